// lumen: the GUI. Options: --workspace DIR, --demo, --screenshot FILE, --plugin-dir DIR.
#include "main_window.h"

#include "angio_study_view.h"
#include "audit_panel.h"
#include "jobs_panel.h"
#include "vtk_render_widget.h"

#include "util/allocator.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSurfaceFormat>
#include <QTimer>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Saves a PNG of the window once it has settled: no job running and nothing changed for a
// short while. Gives up (exit code 2) if that never happens.
void scheduleScreenshot(lumen::app::MainWindow* window, const QString& file) {
    auto* timer = new QTimer(window);
    auto* clock = new QElapsedTimer;
    clock->start();
    auto quietSince = std::make_shared<qint64>(-1);
    QObject::connect(timer, &QTimer::timeout, window, [=] {
        const bool busy = window->runningJobs() > 0;
        if (busy) *quietSince = -1;
        else if (*quietSince < 0) *quietSince = clock->elapsed();
        const bool settled = !busy && clock->elapsed() - *quietSince >= 700 && clock->elapsed() > 1000;
        if (!settled && clock->elapsed() < 180000) return;
        timer->stop();
        const QPixmap shot = window->grab();
        const bool saved = settled && !shot.isNull() && shot.save(file, "PNG");
        if (!saved)
            std::fprintf(stderr, "lumen: %s %s\n",
                         settled ? "cannot write the screenshot to" : "the window never settled;", qPrintable(file));
        else std::fprintf(stderr, "lumen: screenshot saved to %s\n", qPrintable(file));
        delete clock;
        QApplication::exit(saved ? 0 : 2);
    });
    timer->start(100);
}

// The GUI's command line.
struct GuiOptions {
    QCommandLineOption workspace{"workspace", "Open the workspace folder DIR (created if missing).", "DIR"};
    QCommandLineOption demo{"demo", "Create (or reuse) the demo workspace in the user's data folder and open it."};
    QCommandLineOption screenshot{"screenshot", "Once the window has settled, save it as a PNG to FILE and exit.",
                                  "FILE"};
    QCommandLineOption page{
        "show",
        "Bring PAGE to the front: workspace, data, dicom, pacs, volume, audit, study, angio, metrics, train or sweeps.",
        "PAGE"};
    QCommandLineOption volume{"volume",
                              "Open the NIfTI file, DICOM file or DICOM series folder PATH in the Volume page "
                              "(\"demo\": the demo workspace's first CT).",
                              "PATH"};
    QCommandLineOption overlay{"overlay",
                               "With --volume: overlay the NIfTI heatmap or label mask PATH on it "
                               "(e.g. a ct_multilabel CAM, cams/<id>__<label>.nii.gz).",
                               "PATH"};
    QCommandLineOption angio{"angio",
                             "Open an angio_multiview inference's preds.json in the Angio study page (with "
                             "--baseline: a predictions CSV beside it).",
                             "FILE"};
    QCommandLineOption baseline{"baseline", "With --angio: the baseline predictions CSV.", "CSV"};
    QCommandLineOption cam{"cam", "With --angio: overlay the first study's video Grad-CAM of COLUMN.", "COLUMN"};
    QCommandLineOption runAudit{"run-audit",
                                "Run the audit of the inputs already set (the demo's pair with --demo) once the "
                                "window is up."};
    QCommandLineOption pluginDir{"plugin-dir", "Also load task plugins from DIR (repeatable).", "DIR"};

    void addTo(QCommandLineParser& parser) const {
        parser.setApplicationDescription("Lumen — research workbench for medical-imaging deep learning");
        parser.addHelpOption();
        parser.addVersionOption();
        parser.addOptions(
            {workspace, demo, screenshot, pluginDir, page, runAudit, volume, overlay, angio, baseline, cam});
    }
};

void setApplicationNames() {
    QCoreApplication::setOrganizationName("Lumen");
    QCoreApplication::setApplicationName("Lumen");
    QCoreApplication::setApplicationVersion(LUMEN_VERSION);
}

// --help and --version answer without a display: they need no QApplication (which aborts
// with a Qt platform error when there is no display).
bool asksForInfoOnly(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        for (const char* flag : {"-h", "--help", "--help-all", "-v", "--version", "-?"})
            if (std::strcmp(argv[i], flag) == 0) return true;
    return false;
}

// Without a display (and no platform chosen) QApplication would abort; say so instead.
bool hasDisplay() {
    for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        if (const char* v = std::getenv(name); v && *v) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    lumen::util::keepFreedMemoryForReuse();  // volume loading: docs/volume-viewer.md
    // VTK views need a 3.2 core profile; it must be the default before QApplication exists.
    lumen::widgets::VtkRenderWidget::setDefaultSurfaceFormat();

    const GuiOptions options;
    if (asksForInfoOnly(argc, argv)) {
        QCoreApplication core(argc, argv);
        setApplicationNames();
        QCommandLineParser parser;
        options.addTo(parser);
        parser.process(core);  // prints the help or the version and exits
        return 0;
    }
    if (!hasDisplay()) {
        std::fprintf(stderr,
                     "lumen: no display (DISPLAY and WAYLAND_DISPLAY are not set). Run it on a desktop, under "
                     "xvfb-run, or use lumen-cli; lumen --help lists the options.\n");
        return 2;
    }
    QApplication app(argc, argv);
    setApplicationNames();
    QCommandLineParser parser;
    options.addTo(parser);
    parser.process(app);

    lumen::app::MainWindow window;
    if (parser.isSet(options.screenshot)) window.resize(1366, 768);  // a common laptop screen
    window.show();
    window.loadPlugins(parser.values(options.pluginDir));
    if (parser.isSet(options.demo)) {
        window.openDemoWorkspace();
    } else if (parser.isSet(options.workspace)) {
        QString error;
        if (!window.openWorkspace(parser.value(options.workspace), &error)) {
            std::fprintf(stderr, "lumen: %s\n", qPrintable(error));
            if (parser.isSet(options.screenshot)) return 2;
        }
    }
    if (parser.isSet(options.volume)) {
        if (parser.value(options.volume) == "demo") window.openDemoCt();
        else window.openVolume(QFileInfo(parser.value(options.volume)).absoluteFilePath());
        if (parser.isSet(options.overlay))
            window.openVolumeOverlay(QFileInfo(parser.value(options.overlay)).absoluteFilePath());
    }
    if (parser.isSet(options.angio)) {
        auto* view = window.angioView();
        if (!view->openPredictions(QFileInfo(parser.value(options.angio)).absoluteFilePath()))
            std::fprintf(stderr, "lumen: --angio: %s\n", qPrintable(view->statusText()));
        else if (parser.isSet(options.baseline))
            view->openBaseline(QFileInfo(parser.value(options.baseline)).absoluteFilePath());
        if (parser.isSet(options.cam) && !view->showCam(parser.value(options.cam)))
            std::fprintf(stderr, "lumen: --cam: %s\n", qPrintable(view->statusText()));
        window.showPage("angio");
    }
    if (parser.isSet(options.page) && !window.showPage(parser.value(options.page))) {
        std::fprintf(stderr,
                     "lumen: --show: unknown page \"%s\" (workspace, data, dicom, pacs, volume, audit, study, angio, "
                     "metrics, train)\n",
                     qPrintable(parser.value(options.page)));
        return 2;
    }
    if (parser.isSet(options.runAudit)) {
        // Once the jobs already under way (the demo's creation) are done.
        auto* wait = new QTimer(&window);
        QObject::connect(wait, &QTimer::timeout, &window, [&window, wait] {
            if (window.runningJobs() > 0) return;
            wait->stop();
            window.auditPanel()->runAudit();
        });
        wait->start(50);
    }
    if (parser.isSet(options.screenshot))
        scheduleScreenshot(&window, QFileInfo(parser.value(options.screenshot)).absoluteFilePath());
    return app.exec();
}
