// Qt Test suite for core/plugin: loading, refusing and unloading task plugins.
#include "jobs/job_pool.h"
#include "plugin/plugin_loader.h"

#include "test_support.h"

#include <QTemporaryDir>

#include <fstream>

using namespace lumen::plugin;

namespace {
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

class TestPluginLoader : public QObject {
    Q_OBJECT
private slots:
    void loadsAndRunsATask() {
        Registry registry;
        PluginLoader loader(registry);
        const LoadedPlugin& p = loader.load(GOOD_PLUGIN);
        QCOMPARE(p.taskIds, std::vector<std::string>{"test_echo"});
        QCOMPARE(registry.ids(), std::vector<std::string>{"test_echo"});
        QCOMPARE(registry.originOf("test_echo"), std::string(GOOD_PLUGIN));
        auto task = registry.require("test_echo");
        QCOMPARE(task->displayName(), std::string("Echo (test)"));

        // Its default config validates against its schema; a bad value is caught.
        const auto config =
            lumen::config::makeConfig(lumen::config::parseYaml(task->defaultConfigYaml()), task->schema());
        QCOMPARE(config.get<int>("rows"), 3);
        QCOMPARE(config.get<int>("epochs"), 8);  // from the common schema
        const auto issues =
            lumen::config::validate(lumen::config::parseYaml("task: test_echo\nrows: 0\n"), task->schema());
        QCOMPARE(issues.size(), size_t(1));

        // Run it as a job.
        QTemporaryDir dir;
        RunContext where{dir.path().toStdString(), dir.path().toStdString()};
        lumen::jobs::JobPool pool(1);
        const auto id = pool.submit("infer", "echo", [&](lumen::jobs::JobContext& job) {
            return task->run(Operation::Infer, config, where, job);
        });
        pool.waitAll();
        QCOMPARE(pool.info(id)->state, lumen::jobs::JobState::Finished);
        QCOMPARE(pool.info(id)->outcome, std::string("3 rows"));
        std::ifstream in(dir.filePath("predictions.csv").toStdString());
        std::string header, first;
        std::getline(in, header);
        std::getline(in, first);
        QCOMPARE(header, std::string("image,value,message"));
        QCOMPARE(first, std::string("img0,0,hello"));
    }

    void refusesWrongInterfaceVersion() {
        Registry registry;
        PluginLoader loader(registry);
        try {
            loader.load(WRONG_VERSION_PLUGIN);
            QFAIL("loaded a plugin built for another interface version");
        } catch (const PluginError& e) {
            const std::string m = e.what();
            QVERIFY2(contains(m, WRONG_VERSION_PLUGIN), m.c_str());
            QVERIFY2(contains(m, "interface version " + std::to_string(kInterfaceVersion + 100)), m.c_str());
            QVERIFY(contains(m, "this Lumen has version " + std::to_string(kInterfaceVersion)));
        }
        QVERIFY(registry.ids().empty());
        QVERIFY(loader.loaded().empty());
    }

    void refusesNonPluginsAndMissingFiles() {
        Registry registry;
        PluginLoader loader(registry);
        try {
            loader.load(NO_ENTRY_PLUGIN);
            QFAIL("loaded a library without entry points");
        } catch (const PluginError& e) {
            QVERIFY2(contains(e.what(), "not a Lumen plugin"), e.what());
            QVERIFY(contains(e.what(), NO_ENTRY_PLUGIN));
        }
        try {
            loader.load("/nonexistent/libfoo.so");
            QFAIL("loaded a missing file");
        } catch (const PluginError& e) {
            QVERIFY(contains(e.what(), "/nonexistent/libfoo.so: no such file"));
        }
        QTemporaryDir dir;
        const std::string junk = dir.filePath("junk.so").toStdString();
        std::ofstream(junk) << "not an ELF file";
        try {
            loader.load(junk);
            QFAIL("loaded junk");
        } catch (const PluginError& e) {
            QVERIFY2(contains(e.what(), junk + ": cannot be loaded"), e.what());
        }
        QVERIFY(registry.ids().empty());
    }

    void refusesDuplicateTaskIds() {
        Registry registry;
        PluginLoader loader(registry);
        loader.load(GOOD_PLUGIN);
        try {
            loader.load(DUPLICATE_PLUGIN);
            QFAIL("two plugins registered the same id");
        } catch (const PluginError& e) {
            QVERIFY2(contains(e.what(), "already registered by " GOOD_PLUGIN), e.what());
        }
        QCOMPARE(loader.loaded().size(), size_t(1));
        QCOMPARE(registry.originOf("test_echo"), std::string(GOOD_PLUGIN));
    }

    void unloadsOnlyWhenUnused() {
        Registry registry;
        PluginLoader loader(registry);
        loader.load(GOOD_PLUGIN);
        auto task = registry.find("test_echo");
        try {
            loader.unload(GOOD_PLUGIN);
            QFAIL("unloaded a plugin whose task is in use");
        } catch (const PluginError& e) {
            QVERIFY(contains(e.what(), "still in use"));
        }
        task.reset();
        loader.unload(GOOD_PLUGIN);
        QVERIFY(registry.ids().empty());
        QVERIFY(loader.loaded().empty());
        QVERIFY_THROWS_EXCEPTION(PluginError, loader.unload(GOOD_PLUGIN));
        // It can be loaded again after unloading.
        loader.load(GOOD_PLUGIN);
        QCOMPARE(registry.ids(), std::vector<std::string>{"test_echo"});
    }

    void loadsAFolderAndReportsRefusals() {
        Registry registry;
        PluginLoader loader(registry);
        const FolderReport report = loader.loadFolder(TEST_PLUGIN_DIR);
        // Sorted by name: the good plugin loads; the duplicate, the wrong version and the one
        // without entry points are refused, each with its own message.
        QCOMPARE(report.loaded.size(), size_t(1));
        QCOMPARE(report.refused.size(), size_t(3));
        QCOMPARE(registry.ids(), std::vector<std::string>{"test_echo"});
        QVERIFY(loader.loadFolder("/nonexistent/folder").loaded.empty());
    }

    void searchPathNeverUsesTheCurrentDirectory() {
        qputenv("LUMEN_PLUGIN_PATH", "relative/dir:/abs/plugins::.");
        const auto paths = pluginSearchPath("/opt/lumen/bin", {"/home/u/plugins", "rel"});
        qunsetenv("LUMEN_PLUGIN_PATH");
        const std::vector<std::filesystem::path> expected = {"/opt/lumen/lib/lumen/plugins", "/abs/plugins",
                                                             "/home/u/plugins"};
        QCOMPARE(paths.size(), expected.size());
        for (size_t i = 0; i < paths.size(); ++i) QCOMPARE(paths[i].string(), expected[i].string());
    }

    void taskConfigNamesUnknownTask() {
        Registry registry;
        PluginLoader loader(registry);
        loader.load(GOOD_PLUGIN);
        QTemporaryDir dir;
        const std::string path = dir.filePath("c.yaml").toStdString();
        std::ofstream(path) << "task: roi_consistensy\n";
        try {
            loadTaskConfig(path, registry);
            QFAIL("no exception");
        } catch (const lumen::config::ConfigError& e) {
            QVERIFY2(contains(e.what(), path + ":1: task: unknown task \"roi_consistensy\" (known: test_echo)"),
                     e.what());
        }
        std::ofstream(path) << "task: test_echo\nrows: 5\n";
        QCOMPARE(loadTaskConfig(path, registry).get<int>("rows"), 5);
    }
};

QTEST_GUILESS_MAIN(TestPluginLoader)
#include "test_plugin_loader.moc"
