// Qt Test suite for widgets/run_launcher: the form generated from the echo test task's schema,
// the YAML tab kept in sync both ways, problems marked (red, key, line) and Launch disabled,
// launch carrying the validated config, load/save. With LUMEN_WRITE_SCREENSHOTS=1 it writes
// docs/screenshots/run_launcher.png.
#include "run_launcher.h"

#include "plugin/plugin_loader.h"
#include "plugin/registry.h"

#include "test_support.h"

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>

using namespace lumen;
using lumen::widgets::RunLauncher;

class TestRunLauncher : public QObject {
    Q_OBJECT
    plugin::Registry registry_;
    std::unique_ptr<plugin::PluginLoader> loader_;

    template <typename W>
    W* editor(RunLauncher& l, const char* path) {
        auto* w = qobject_cast<W*>(l.editorFor(path));
        if (!w) qWarning("no editor of the expected type for %s", path);
        return w;
    }

    /// A second task, so switching by the YAML's `task:` key can be tested.
    class OtherTask : public plugin::Task {
    public:
        std::string id() const override { return "other_task"; }
        std::string displayName() const override { return "Other"; }
        std::string description() const override { return "A second task."; }
        config::Schema schema() const override {
            config::Schema s(id());
            s.merge(config::commonSchema());
            s.addInt("width", 4, "A key only this task has.", 1, 64);
            return s;
        }
        std::string defaultConfigYaml() const override { return "task: other_task\nwidth: 4\n"; }
        std::vector<std::string> predictionColumns(const config::Config&) const override { return {}; }
        plugin::TaskGuiHints guiHints() const override { return {}; }
        std::string run(plugin::Operation, const config::Config&, const plugin::RunContext&,
                        jobs::JobContext&) override {
            return {};
        }
    };

private slots:
    void initTestCase() {
        loader_ = std::make_unique<plugin::PluginLoader>(registry_);
        loader_->load(GOOD_PLUGIN);
        QVERIFY(registry_.find("test_echo"));
    }

    void buildsAFormFromTheSchema() {
        RunLauncher l;
        l.setRegistry(&registry_);
        QCOMPARE(l.taskIds(), QStringList{"test_echo"});
        QCOMPARE(l.currentTask(), QString("test_echo"));
        auto* rows = editor<QSpinBox>(l, "rows");
        QVERIFY(rows);
        QCOMPARE(rows->minimum(), 1);
        QCOMPARE(rows->maximum(), 100000);
        QCOMPARE(rows->value(), 3);
        QVERIFY(rows->toolTip().contains("Rows to write."));
        QVERIFY(editor<QCheckBox>(l, "fail"));
        auto* precision = editor<QComboBox>(l, "precision");
        QVERIFY(precision);
        QCOMPARE(precision->count(), 3);  // fp32, bf16, fp16
        QCOMPARE(precision->currentText(), QString("fp32"));
        auto* lr = editor<QLineEdit>(l, "lr");
        QVERIFY(lr);
        QCOMPARE(lr->text(), QString("0.0001"));  // the default shown when the YAML omits it
        QVERIFY(editor<QLineEdit>(l, "components"));
        // `lr` must be > 0: the minimum is exclusive; `epochs` ≥ 1.
        QCOMPARE(editor<QSpinBox>(l, "epochs")->minimum(), 1);
        // The required key is marked.
        bool requiredMarked = false;
        for (auto* label : l.findChildren<QLabel*>())
            if (label->text() == "task *" && label->font().bold()) requiredMarked = true;
        QVERIFY(requiredMarked);
        QVERIFY(l.isValid());
        QVERIFY(l.launchButton()->isEnabled());
    }

    void yamlNamingAnotherTaskSwitchesTheForm() {
        plugin::Registry registry;
        registry.add(registry_.require("test_echo"), "test plugin");
        registry.add(std::make_shared<OtherTask>(), "test");
        RunLauncher l;
        l.setRegistry(&registry);
        QVERIFY(l.selectTask("test_echo"));
        l.setYamlText("task: other_task\nwidth: 9\n");
        QCOMPARE(l.currentTask(), QString("other_task"));
        QVERIFY(l.isValid());
        QCOMPARE(editor<QSpinBox>(l, "width")->value(), 9);
        QVERIFY(!l.editorFor("rows"));
        // An unknown task name stays an error on the current task's form.
        l.setYamlText("task: no_such_task\nwidth: 9\n");
        QCOMPARE(l.currentTask(), QString("other_task"));
        QVERIFY(!l.isValid());
    }

    void formEditsUpdateTheYaml() {
        RunLauncher l;
        l.setRegistry(&registry_);
        l.show();
        QVERIFY(QTest::qWaitForWindowExposed(&l));
        auto* rows = editor<QSpinBox>(l, "rows");
        rows->setFocus();
        rows->selectAll();
        QTest::keyClicks(rows, "42");
        QVERIFY2(l.yamlText().contains("rows: 42"), qPrintable(l.yamlText()));
        editor<QCheckBox>(l, "fail")->setFocus();
        QTest::keyClick(editor<QCheckBox>(l, "fail"), Qt::Key_Space);
        QVERIFY2(l.yamlText().contains("fail: true"), qPrintable(l.yamlText()));
        auto* lr = editor<QLineEdit>(l, "lr");
        lr->selectAll();
        QTest::keyClicks(lr, "3e-4");
        QVERIFY2(l.yamlText().contains("lr: 3e-4"), qPrintable(l.yamlText()));
        auto* components = editor<QLineEdit>(l, "components");
        components->setFocus();
        QTest::keyClicks(components, "full, consist");
        QVERIFY2(l.yamlText().contains("components: [full, consist]"), qPrintable(l.yamlText()));
        auto* precision = editor<QComboBox>(l, "precision");
        precision->setCurrentText("bf16");
        QVERIFY(l.yamlText().contains("precision: bf16"));
        QVERIFY(l.isValid());
        const auto config = l.effectiveConfig();
        QCOMPARE(config.get<int>("rows"), 42);
        QCOMPARE(config.get<double>("lr"), 3e-4);
        QCOMPARE(config.get<std::vector<std::string>>("components"), (std::vector<std::string>{"full", "consist"}));
    }

    void yamlEditsUpdateTheForm() {
        RunLauncher l;
        l.setRegistry(&registry_);
        l.show();
        QVERIFY(QTest::qWaitForWindowExposed(&l));
        l.tabs()->setCurrentIndex(1);
        QPlainTextEdit* yaml = l.yamlEditor();
        yaml->setFocus();
        yaml->moveCursor(QTextCursor::End);
        for (const char* line : {"delay_ms: 7", "precision: bf16", "channels_last: true"}) {
            QTest::keyClicks(yaml, line);
            QTest::keyClick(yaml, Qt::Key_Return);
        }
        // Debounced: the form follows a moment later.
        QTRY_COMPARE(editor<QSpinBox>(l, "delay_ms")->value(), 7);
        QCOMPARE(editor<QComboBox>(l, "precision")->currentText(), QString("bf16"));
        QVERIFY(editor<QCheckBox>(l, "channels_last")->isChecked());
        l.setYamlText("task: test_echo\nrows: 77\nmessage: hi there\n");
        QCOMPARE(editor<QSpinBox>(l, "rows")->value(), 77);
        QCOMPARE(editor<QLineEdit>(l, "message")->text(), QString("hi there"));
        QCOMPARE(editor<QSpinBox>(l, "delay_ms")->value(), 0);  // back to its default
        QVERIFY(l.isValid());
    }

    void invalidValuesDisableLaunchAndNameTheKey() {
        RunLauncher l;
        l.setRegistry(&registry_);
        l.show();
        QVERIFY(QTest::qWaitForWindowExposed(&l));
        // From the form: lr must be > 0.
        auto* lr = editor<QLineEdit>(l, "lr");
        lr->selectAll();
        QTest::keyClicks(lr, "-1");
        QVERIFY(!l.isValid());
        QVERIFY(!l.launchButton()->isEnabled());
        QVERIFY2(!l.fieldMessage("lr").isEmpty(), "lr has no message");
        QVERIFY(lr->styleSheet().contains("background"));
        QVERIFY2(l.issues().join("\n").contains("lr: expected"), qPrintable(l.issues().join("\n")));
        QSignalSpy launched(&l, &RunLauncher::launchRequested);
        QTest::mouseClick(l.launchButton(), Qt::LeftButton);
        QCOMPARE(launched.count(), 0);
        lr->selectAll();
        QTest::keyClicks(lr, "0.001");
        QVERIFY(l.isValid());
        QVERIFY(l.fieldMessage("lr").isEmpty());
        QVERIFY(l.launchButton()->isEnabled());

        // From the YAML: a range error and an unknown key, each with its line.
        l.setYamlText("task: test_echo\nrows: 3\nepochs: 0\nrowz: 4\n");
        const QString issues = l.issues().join("\n");
        QVERIFY2(issues.contains("line 3: epochs:"), qPrintable(issues));
        QVERIFY2(issues.contains("line 4: rowz:") && issues.contains("did you mean"), qPrintable(issues));
        QVERIFY(!l.fieldMessage("epochs").isEmpty());
        QVERIFY(!l.launchButton()->isEnabled());
        // A type error: a word where a number belongs.
        l.setYamlText("task: test_echo\nlr: high\n");
        QVERIFY2(l.issues().join("\n").contains("line 2: lr:"), qPrintable(l.issues().join("\n")));
        // A syntax error names its line; the form keeps its last good values.
        l.setYamlText("task: test_echo\nrows: 5\ncomponents: [a, b\n");
        QVERIFY(!l.isValid());
        QVERIFY2(l.issues().join("\n").contains("YAML syntax error"), qPrintable(l.issues().join("\n")));
        QVERIFY(l.issues().join("\n").contains("line "));
        QVERIFY(!l.launchButton()->isEnabled());
        QVERIFY(!l.yamlEditor()->extraSelections().isEmpty());
        l.setYamlText("task: test_echo\nrows: 5\ncomponents: [a, b]\n");
        QVERIFY(l.isValid());
        QCOMPARE(editor<QSpinBox>(l, "rows")->value(), 5);
    }

    void launchCarriesTheValidatedConfig() {
        RunLauncher l;
        l.setRegistry(&registry_);
        l.setYamlText("task: test_echo\nrows: 12\nlr: 1e-3\n");
        l.setRunName("first try");
        QSignalSpy launched(&l, &RunLauncher::launchRequested);
        QTest::mouseClick(l.launchButton(), Qt::LeftButton);
        QCOMPARE(launched.count(), 1);
        QCOMPARE(launched.at(0).at(0).toString(), QString("test_echo"));
        const auto config = launched.at(0).at(1).value<config::Config>();
        QCOMPARE(config.get<int>("rows"), 12);
        QCOMPARE(config.get<int>("epochs"), 8);  // defaults filled
        QCOMPARE(config.get<double>("lr"), 1e-3);
        QCOMPARE(launched.at(0).at(2).toString(), QString("first try"));
    }

    void savesAndLoadsConfigFiles() {
        QTemporaryDir dir;
        RunLauncher l;
        l.setRegistry(&registry_);
        l.setYamlText("task: test_echo\nrows: 321\n");
        const QString file = dir.filePath("echo.yaml");
        QString error;
        QVERIFY2(l.saveConfigFile(file, &error), qPrintable(error));
        l.setYamlText("task: test_echo\nrows: 1\n");
        QVERIFY2(l.loadConfigFile(file, &error), qPrintable(error));
        QCOMPARE(editor<QSpinBox>(l, "rows")->value(), 321);
        QVERIFY(!l.loadConfigFile(dir.filePath("missing.yaml"), &error));
        QVERIFY(error.contains("missing.yaml"));
        const std::string other = writeTextFile(dir, "other.yaml", "task: no_such_task\n");
        QVERIFY(!l.loadConfigFile(QString::fromStdString(other), &error));
        QVERIFY2(error.contains("other.yaml") && error.contains("no_such_task"), qPrintable(error));
    }

    /// A real task's generated form: angio_multiview's `data.cache` (docs/angio.md) is a choice
    /// of memory and none, and choosing none reaches the YAML and the launched config.
    void angioFormOffersTheDataCache() {
        plugin::Registry registry;
        plugin::PluginLoader loader(registry);
        loader.load(ANGIO_PLUGIN);
        QVERIFY(registry.find("angio_multiview"));
        RunLauncher l;
        l.setRegistry(&registry);
        QVERIFY(l.selectTask("angio_multiview"));
        l.resize(560, 700);
        l.show();
        QVERIFY(QTest::qWaitForWindowExposed(&l));
        auto* cache = editor<QComboBox>(l, "data.cache");
        QVERIFY(cache);
        QCOMPARE(cache->count(), 2);
        QCOMPARE(cache->itemText(0), QString("memory"));
        QCOMPARE(cache->itemText(1), QString("none"));
        QCOMPARE(cache->currentText(), QString("memory"));
        QVERIFY(cache->toolTip().contains("decodes its videos again"));
        cache->setCurrentText("none");
        QVERIFY2(l.yamlText().contains("cache: none"), qPrintable(l.yamlText()));
        QVERIFY(l.isValid());
        QCOMPARE(l.effectiveConfig().get<std::string>("data.cache"), std::string("none"));
        // For the eye: the form scrolled to the key (a temporary file unless LUMEN_WRITE_SCREENSHOTS).
        for (auto* area : l.findChildren<QScrollArea*>())
            if (area->isAncestorOf(cache)) area->ensureWidgetVisible(cache);
        QTest::qWait(100);
        QVERIFY(l.grab().save(QDir::tempPath() + "/run_launcher_angio_cache.png"));
    }

    void screenshot() {
        RunLauncher l;
        l.setRegistry(&registry_);
        l.setYamlText(
            "task: test_echo\nmessage: hello\nrows: 600\nepochs: 6\nbatch_size: 16\n"
            "lr: 3e-4\nwarmup_steps: 50\nprecision: bf16\nchannels_last: true\n"
            "components: [full, consist, drop, sparse, tv]\nepoch_rows: 100\n"
            "weight_decay: -0.05\n");
        l.setRunName("echo 5 components");
        l.resize(560, 980);
        l.show();
        QVERIFY(QTest::qWaitForWindowExposed(&l));
        QTest::qWait(100);
        QVERIFY(!l.isValid());
        QVERIFY(!l.fieldMessage("weight_decay").isEmpty());
        const QPixmap shot = l.grab();
        QVERIFY(!shot.isNull());
        QVERIFY(shot.save(screenshotPath("run_launcher.png")));
    }
};

QTEST_MAIN(TestRunLauncher)
#include "test_run_launcher.moc"
