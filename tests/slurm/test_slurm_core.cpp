// Qt Test suite: the torch- and Slurm-free half of core/slurm (docs/slurm.md): the sbatch
// script (run by bash with fake srun/scontrol), sbatch's answer, the three state sources and
// their fall-back order, the state → run status table, the run's end recorded from Slurm's
// state, plugin::recordRun, and the process helper.
#include "config/config.h"
#include "plugin/run_record.h"
#include "runs/run_lock.h"
#include "runs/run_store.h"
#include "slurm/job_state.h"
#include "slurm/process.h"
#include "slurm/sbatch_script.h"
#include "slurm/slurm_run.h"

#include "test_support.h"

#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace lumen::slurm;
using lumen::runs::RunStatus;

namespace {

SubmitOptions options(const fs::path& root) {
    SubmitOptions o;
    o.nodes = 2;
    o.tasksPerNode = 2;
    o.cpusPerTask = 3;
    o.partition = "gpu";
    o.time = "1-02:00:00";
    o.account = "lab";
    o.extra = {"--gres=gpu:1", "#SBATCH --exclusive"};
    o.lumenCli = root / "bin" / "lumen-cli";
    o.workspace = root / "my ws";
    o.runId = 7;
    o.runFolder = o.workspace / "runs" / "7_roi_consistency";
    o.config = o.runFolder / "config.yaml";
    return o;
}

void makeExecutable(const std::string& file, const std::string& text) {
    std::ofstream(file) << text;
    ::chmod(file.c_str(), 0755);
}

}  // namespace

class TestSlurmCore : public QObject {
    Q_OBJECT
private slots:
    void scriptAsksForTheJobAndStartsTheRanks() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        const std::string s = sbatchScript(options(root));
        for (const std::string& line : std::vector<std::string>{
                 "#!/bin/bash\n", "#SBATCH --job-name=lumen-run7\n", "#SBATCH --nodes=2\n",
                 "#SBATCH --ntasks-per-node=2\n", "#SBATCH --cpus-per-task=3\n", "#SBATCH --partition=gpu\n",
                 "#SBATCH --time=1-02:00:00\n", "#SBATCH --account=lab\n",
                 "#SBATCH --output=\"" + root.string() + "/my ws/runs/7_roi_consistency/slurm-%j.out\"\n",
                 "#SBATCH --chdir=\"" + root.string() + "/my ws\"\n", "#SBATCH --gres=gpu:1\n",
                 "#SBATCH --exclusive\n"})
            QVERIFY2(s.find(line) != std::string::npos, (line + " not in\n" + s).c_str());
        // The ranks' command, run by bash with a fake srun and scontrol: MASTER_ADDR is the
        // first host, MASTER_PORT 20000 + job id mod 20000, the path with a blank one argument.
        const std::string bin = dir.filePath("bin").toStdString();
        fs::create_directories(bin);
        makeExecutable(bin + "/scontrol", "#!/bin/sh\n[ \"$3\" = \"node[3-4]\" ] && printf 'node3\\nnode4\\n'\n");
        makeExecutable(
            bin + "/srun",
            "#!/bin/sh\necho \"MASTER=$MASTER_ADDR:$MASTER_PORT\"\nfor a in \"$@\"; do echo \"[$a]\"; done\n");
        const std::string file = writeTextFile(dir, "job.sbatch", s);
        QProcess bash;
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert("PATH", QString::fromStdString(bin) + ":/usr/bin:/bin");
        env.insert("SLURM_JOB_ID", "123456");
        env.insert("SLURM_JOB_NODELIST", "node[3-4]");
        env.insert("SLURM_NTASKS", "4");
        env.remove("MASTER_ADDR");
        env.remove("MASTER_PORT");
        bash.setProcessEnvironment(env);
        bash.start("/bin/bash", {QString::fromStdString(file)});
        QVERIFY(bash.waitForFinished(10000));
        const std::string out = bash.readAllStandardOutput().toStdString();
        QCOMPARE(bash.exitCode(), 0);
        QCOMPARE(masterPortForJob(123456), 23456);
        const std::string expected =
            "lumen: run 7, job 123456 on node[3-4], 4 tasks, master node3:23456\n"
            "MASTER=node3:23456\n[--kill-on-bad-exit=1]\n[--cpus-per-task=3]\n[" +
            root.string() + "/bin/lumen-cli]\n[train]\n[--config]\n[" + root.string() +
            "/my ws/runs/7_roi_consistency/config.yaml]\n[--workspace]\n[" + root.string() + "/my ws]\n[--run]\n[7]\n";
        QCOMPARE(out, expected);
    }

    void badOptionsAreNamed() {
        const fs::path root = "/tmp/x";
        const auto error = [&](const std::function<void(SubmitOptions&)>& change) {
            auto o = options(root);
            change(o);
            return errorOf<SubmitError>([&] { sbatchScript(o); });
        };
        QCOMPARE(error([](SubmitOptions& o) { o.nodes = 0; }), std::string("--nodes must be at least 1, got 0"));
        QVERIFY(error([](SubmitOptions& o) { o.tasksPerNode = 0; }).find("--tasks-per-node") == 0);
        QVERIFY(error([](SubmitOptions& o) { o.time = "soon"; }).find("--time \"soon\"") == 0);
        QVERIFY(error([](SubmitOptions& o) { o.partition = "a\nb"; }).find("line break") != std::string::npos);
        QVERIFY(error([](SubmitOptions& o) { o.account = "a b"; }).find("--account") == 0);
        QVERIFY(error([](SubmitOptions& o) { o.config = "config.yaml"; }).find("absolute path") != std::string::npos);
        QVERIFY(error([](SubmitOptions& o) { o.extra = {"--x\n#SBATCH --y"}; }).find("line break") !=
                std::string::npos);
        for (const char* time : {"30", "10:00", "2:00:00", "1-0", "1-02:03", "3-04:05:06", "infinite"}) {
            auto o = options(root);
            o.time = time;
            QVERIFY2(errorOf<SubmitError>([&] { sbatchScript(o); }) == "(no error)", time);
        }
    }

    void sbatchAnswers() {
        QCOMPARE(parseParsableJobId("123\n"), std::int64_t(123));
        QCOMPARE(parseParsableJobId("4567;cluster\n"), std::int64_t(4567));
        QCOMPARE(parseParsableJobId("sbatch: warning: something\n89\n\n"), std::int64_t(89));
        QVERIFY(errorOf<SubmitError>([] { parseParsableJobId(""); }).find("no job id") != std::string::npos);
        QVERIFY(errorOf<SubmitError>([] { parseParsableJobId("Submitted batch job 5\n"); }).find("no job id") !=
                std::string::npos);
    }

    void stateSources() {
        QCOMPARE(parseSqueue("RUNNING|None\n")->state, std::string("RUNNING"));
        QCOMPARE(parseSqueue("PENDING|Resources\n")->reason, std::string("Resources"));
        QVERIFY(!parseSqueue(""));
        const auto sc =
            parseScontrol("JobId=5 JobName=x UserId=root(0) JobState=CANCELLED Reason=None Dependency=(null)\n");
        QVERIFY(sc && sc->state == "CANCELLED" && sc->reason == "None" && sc->source == "scontrol");
        QVERIFY(!parseScontrol("slurm_load_jobs error: Invalid job id specified\n"));
        QCOMPARE(parseSacct("CANCELLED by 0|None\n")->state, std::string("CANCELLED"));
        QCOMPARE(parseSacct("COMPLETED|\nCOMPLETED|\n")->state, std::string("COMPLETED"));
        const auto many = parseSqueueJobs("12|RUNNING|None\n13|PENDING|Priority\nnoise\n");
        QCOMPARE(many.size(), std::size_t(2));
        QCOMPARE(many.at(13).reason, std::string("Priority"));
        QCOMPARE(baseState("completed+"), std::string("COMPLETED"));
        QCOMPARE(baseState("JobState=RUNNING"), std::string("RUNNING"));
        QCOMPARE(squeueCommand(9), (std::vector<std::string>{"squeue", "-h", "-t", "all", "-j", "9", "-o", "%T|%r"}));
        QCOMPARE(squeueJobsCommand({1, 2})[5], std::string("1,2"));
    }

    // squeue, then scontrol, then sacct; missing or failing programs are reasons, not errors.
    void queryFallsBack() {
        std::vector<std::string> asked;
        const auto state = queryJobState(5, [&](const std::vector<std::string>& argv) {
            asked.push_back(argv[0]);
            if (argv[0] == "squeue") return ProcessResult{1, "", "slurm_load_jobs error: Invalid job id specified\n"};
            if (argv[0] == "scontrol") return ProcessResult{0, "", ""};
            return ProcessResult{0, "TIMEOUT|None\n", ""};
        });
        QCOMPARE(asked, (std::vector<std::string>{"squeue", "scontrol", "sacct"}));
        QCOMPARE(state.state, std::string("TIMEOUT"));
        QCOMPARE(state.source, std::string("sacct"));
        QVERIFY2(state.problems.find("Invalid job id") != std::string::npos, state.problems.c_str());
        const auto none = queryJobState(5, [](const std::vector<std::string>& argv) -> ProcessResult {
            throw ProcessError(argv[0] + ": command not found (not on PATH)", true);
        });
        QVERIFY(!none.known());
        for (const char* tool : {"squeue:", "scontrol:", "sacct:"})
            QVERIFY(none.problems.find(tool) != std::string::npos);
    }

    void statesMapToRunStatuses() {
        const std::pair<const char*, RunStatus> table[] = {
            {"PENDING", RunStatus::Queued},     {"CONFIGURING", RunStatus::Queued},
            {"REQUEUED", RunStatus::Queued},    {"RUNNING", RunStatus::Running},
            {"COMPLETING", RunStatus::Running}, {"SUSPENDED", RunStatus::Running},
            {"COMPLETED", RunStatus::Finished}, {"CANCELLED", RunStatus::Cancelled},
            {"FAILED", RunStatus::Failed},      {"TIMEOUT", RunStatus::Failed},
            {"NODE_FAIL", RunStatus::Failed},   {"OUT_OF_MEMORY", RunStatus::Failed},
            {"PREEMPTED", RunStatus::Failed},   {"BOOT_FAIL", RunStatus::Failed},
            {"DEADLINE", RunStatus::Failed},    {"CANCELLED by 0", RunStatus::Cancelled}};
        for (const auto& [state, status] : table) {
            QVERIFY2(runStatusForState(state) == status, state);
            QCOMPARE(isFinalState(state), lumen::runs::isTerminal(status));
        }
        QVERIFY(!runStatusForState("SOMETHING_NEW"));
        QVERIFY(!isFinalState(""));
    }

    void jobEndIsRecordedOnlyWhenNoRankDid() {
        QTemporaryDir dir;
        const auto ws = lumen::runs::Workspace::open(dir.path().toStdString());
        lumen::runs::RunStore store(ws.database());
        const auto make = [&](RunStatus status) {
            const auto id = store.createRun("t", "r", "task: t\n", "h", "{}");
            store.setParams(id, {{kJobIdParam, std::to_string(100 + id)}});
            fs::create_directories(ws.runDir(id, "t"));
            if (status != RunStatus::Queued) store.setStatus(id, status);
            return id;
        };
        const auto pending = make(RunStatus::Queued), completed = make(RunStatus::Queued),
                   done = make(RunStatus::Finished), running = make(RunStatus::Running);
        QCOMPARE(jobIdOfRun(store, pending), std::optional<std::int64_t>(100 + pending));
        QVERIFY(!recordJobEnd(store, ws, pending, 1, JobState{"PENDING", "", "squeue", ""}));
        QCOMPARE(recordJobEnd(store, ws, pending, 1, JobState{"CANCELLED", "None", "squeue", ""}),
                 std::optional(RunStatus::Cancelled));
        QCOMPARE(store.run(pending)->outcome, std::string("Slurm job 1 ended CANCELLED before the run started"));
        QCOMPARE(recordJobEnd(store, ws, completed, 2, JobState{"COMPLETED", "", "scontrol", ""}),
                 std::optional(RunStatus::Failed));
        QVERIFY(store.run(completed)->outcome.find("no rank recorded the run's end (see slurm-2.out)") !=
                std::string::npos);
        QVERIFY(!recordJobEnd(store, ws, done, 3, JobState{"FAILED", "", "sacct", ""}));
        QCOMPARE(store.run(done)->status, RunStatus::Finished);
        {
            lumen::runs::RunLock rank0(ws.runDir(running, "t"));  // a rank still writing
            QVERIFY(!recordJobEnd(store, ws, running, 4, JobState{"CANCELLED", "", "squeue", ""}));
        }
        QCOMPARE(recordJobEnd(store, ws, running, 4, JobState{"NODE_FAIL", "", "squeue", ""}),
                 std::optional(RunStatus::Failed));
        QVERIFY(store.run(running)->outcome.find("while the run was running") != std::string::npos);
        QCOMPARE(jobOutputFile("/r", 9), fs::path("/r/slurm-9.out"));
    }

    void recordRunMakesAQueuedRunWithItsFolder() {
        QTemporaryDir dir;
        const auto ws = lumen::runs::Workspace::open(dir.path().toStdString());
        lumen::runs::RunStore store(ws.database());
        lumen::config::Schema schema("t");
        schema.add({"task", lumen::config::FieldType::String, "", "task", {}, {}, false, {}, true});
        schema.add({"epochs", lumen::config::FieldType::Int, "3", "epochs"});
        lumen::plugin::TaskRunRequest request;
        request.config = lumen::config::makeConfig(lumen::config::parseYaml("task: t\n"), schema);
        const auto run = lumen::plugin::recordRun(store, ws, "t", request, {{"slurm.nodes", "2"}});
        const auto record = store.run(run.id);
        QCOMPARE(record->status, RunStatus::Queued);
        QCOMPARE(record->name, std::string("t train"));
        QCOMPARE(run.dir, ws.runDir(run.id, "t"));
        QCOMPARE(readTextFile(run.dir / "config.yaml"), request.config.toYaml());
        const auto params = store.params(run.id);
        for (const auto& p :
             {std::pair<std::string, std::string>{"epochs", "3"}, {"operation", "train"}, {"slurm.nodes", "2"}})
            QVERIFY2(std::find(params.begin(), params.end(), p) != params.end(), p.first.c_str());
        QCOMPARE(store.paramOfRuns("slurm.nodes"), (std::vector<std::pair<std::int64_t, std::string>>{{run.id, "2"}}));
    }

    void processHelper() {
        const auto r = runProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
        QCOMPARE(r.exitCode, 3);
        QCOMPARE(r.out, std::string("out\n"));
        QCOMPARE(r.err, std::string("err\n"));
        QCOMPARE(failureText({"/bin/sh", "-c", "x y"}, r), std::string("/bin/sh -c 'x y' exited with 3: err"));
        const auto missing = [] { runProcess({"lumen-no-such-program"}); };
        QCOMPARE(errorOf<ProcessError>(missing), std::string("lumen-no-such-program: command not found (not on PATH)"));
        QVERIFY(errorOf<ProcessError>([] {
                    runProcess({"sleep", "5"}, std::chrono::milliseconds(300));
                }).find("sleep 5: no answer within") == 0);
        QCOMPARE(shellQuote("a-b/c.d"), std::string("a-b/c.d"));
        QCOMPARE(shellQuote("it's here"), std::string("'it'\\''s here'"));
        QCOMPARE(shellQuote(""), std::string("''"));
        QVERIFY(programExists("sh"));
        QVERIFY(!programExists("lumen-no-such-program"));
    }
};

QTEST_MAIN(TestSlurmCore)
#include "test_slurm_core.moc"
