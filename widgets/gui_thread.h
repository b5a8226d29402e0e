#pragma once
// Posting work from a worker thread back to the GUI thread.

#include <QApplication>
#include <QMetaObject>
#include <QObject>
#include <QPointer>

#include <utility>

namespace lumen::widgets {

/// Posts `f` to the GUI thread; it runs there only if `guard` still exists by then.
template <typename F>
void onGuiThread(QPointer<QObject> guard, F f) {
    QMetaObject::invokeMethod(
        qApp,
        [guard, f = std::move(f)]() mutable {
            if (guard) f();
        },
        Qt::QueuedConnection);
}

}  // namespace lumen::widgets
