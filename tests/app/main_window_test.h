#pragma once
// What the GUI walks share: the main window shown at 1366 x 768 (the smallest screen the GUI is
// checked at) with the plugins loaded and a workspace open.

#include "main_window.h"

#include <QString>
#include <QStringList>
#include <QtTest>

/// Shows `w` at 1366 x 768, loads the build's plugins (and those of `extraPluginFolders`) and
/// opens workspace `ws`; false when the window is not exposed or the workspace does not open.
[[nodiscard]] inline bool showWithWorkspace(lumen::app::MainWindow& w, const QString& ws,
                                            const QStringList& extraPluginFolders = {}) {
    w.resize(1366, 768);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w)) return false;
    w.loadPlugins(extraPluginFolders);
    return w.openWorkspace(ws);
}
