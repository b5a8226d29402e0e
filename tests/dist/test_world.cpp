// Who a process is in a data-parallel run (dist/world.h) and its share of an epoch
// (data::shardOrder): torchrun's, Slurm's and bad variables, host lists, thread shares.
#include "data/sharding.h"
#include "dist/world.h"

#include <QtTest>

#include <algorithm>
#include <map>
#include <set>
#include <string>

using namespace lumen;

namespace {

dist::Getenv envOf(const std::map<std::string, std::string>& vars) {
    return [vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
}

std::string errorOf(const std::map<std::string, std::string>& vars) {
    try {
        dist::worldFromEnvironment(envOf(vars));
    } catch (const dist::WorldError& e) {
        return e.what();
    }
    return {};
}

}  // namespace

class TestWorld : public QObject {
    Q_OBJECT
private slots:
    void singleProcessByDefault() {
        const auto w = dist::worldFromEnvironment(envOf({}));
        QVERIFY(!w.distributed());
        QCOMPARE(w.rank, 0);
        QCOMPARE(w.worldSize, 1);
        QCOMPARE(w.describe(), std::string("single process"));
        // A Slurm job step of one task is one process too.
        QVERIFY(!dist::worldFromEnvironment(envOf({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}})).distributed());
    }

    void torchrunVariables() {
        const auto w = dist::worldFromEnvironment(envOf({{"RANK", "3"},
                                                         {"WORLD_SIZE", "4"},
                                                         {"LOCAL_RANK", "1"},
                                                         {"LOCAL_WORLD_SIZE", "2"},
                                                         {"MASTER_ADDR", "10.0.0.7"},
                                                         {"MASTER_PORT", "29411"},
                                                         {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                         {"TORCHELASTIC_RESTART_COUNT", "2"},
                                                         // torchrun inside a Slurm allocation: torchrun wins
                                                         {"SLURM_PROCID", "0"},
                                                         {"SLURM_NTASKS", "1"}}));
        QVERIFY(w.distributed());
        QCOMPARE(w.rank, 3);
        QCOMPARE(w.worldSize, 4);
        QCOMPARE(w.localRank, 1);
        QCOMPARE(w.localWorldSize, 2);
        QCOMPARE(w.masterAddr, std::string("10.0.0.7"));
        QCOMPARE(w.masterPort, 29411);
        QVERIFY(w.agentStore);
        QCOMPARE(w.restartCount, 2);
        QCOMPARE(w.launcher, std::string("torchrun"));
        QVERIFY(w.describe().find("rank 3 of 4 (local 1 of 2)") != std::string::npos);
    }

    void slurmVariables() {
        const auto w = dist::worldFromEnvironment(envOf({{"SLURM_PROCID", "5"},
                                                         {"SLURM_NTASKS", "6"},
                                                         {"SLURM_LOCALID", "2"},
                                                         {"SLURM_TASKS_PER_NODE", "3(x2)"},
                                                         {"SLURM_JOB_NODELIST", "gpu[007-009,012],login1"},
                                                         {"SLURM_JOB_ID", "123456"}}));
        QCOMPARE(w.rank, 5);
        QCOMPARE(w.worldSize, 6);
        QCOMPARE(w.localRank, 2);
        QCOMPARE(w.localWorldSize, 3);
        QCOMPARE(w.masterAddr, std::string("gpu007"));
        QCOMPARE(w.masterPort, 20000 + 123456 % 20000);
        QCOMPARE(w.launcher, std::string("slurm"));
        // MASTER_ADDR / MASTER_PORT (set by the sbatch script) win over the derived ones.
        const auto v = dist::worldFromEnvironment(envOf({{"SLURM_PROCID", "0"},
                                                         {"SLURM_NTASKS", "2"},
                                                         {"SLURM_NTASKS_PER_NODE", "2"},
                                                         {"SLURM_JOB_NODELIST", "n1"},
                                                         {"MASTER_ADDR", "127.0.0.1"},
                                                         {"MASTER_PORT", "31000"}}));
        QCOMPARE(v.masterAddr, std::string("127.0.0.1"));
        QCOMPARE(v.masterPort, 31000);
        QCOMPARE(v.localWorldSize, 2);
    }

    void badVariablesAreNamed() {
        QVERIFY(errorOf({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK=\"x\"") != std::string::npos);
        QVERIFY(errorOf({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK=2 is not below WORLD_SIZE=2") !=
                std::string::npos);
        QVERIFY(errorOf({{"RANK", "0"}, {"WORLD_SIZE", "0"}}).find("WORLD_SIZE") != std::string::npos);
        QVERIFY(errorOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT") !=
                std::string::npos);
        QVERIFY(errorOf({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "n[1-"}})
                    .find("SLURM_JOB_NODELIST") != std::string::npos);
    }

    void slurmHostLists() {
        QCOMPARE(dist::firstSlurmHost("node1"), std::string("node1"));
        QCOMPARE(dist::firstSlurmHost("a-1,b"), std::string("a-1"));
        QCOMPARE(dist::firstSlurmHost("node[07-09,12]"), std::string("node07"));
        QCOMPARE(dist::firstSlurmHost("rack[3,5]-gpu"), std::string("rack3-gpu"));
        QCOMPARE(dist::firstSlurmHost("c[1-2],d[4-5]"), std::string("c1"));
        QVERIFY_THROWS_EXCEPTION(dist::WorldError, dist::firstSlurmHost(""));
        QVERIFY_THROWS_EXCEPTION(dist::WorldError, dist::firstSlurmHost("n[]"));
        QVERIFY_THROWS_EXCEPTION(dist::WorldError, dist::firstSlurmHost("n[a-b]"));
    }

    void threadsAreShared() {
        QCOMPARE(dist::threadsPerRank(8, 1), 8u);
        QCOMPARE(dist::threadsPerRank(8, 2), 4u);
        QCOMPARE(dist::threadsPerRank(2, 2), 1u);
        QCOMPARE(dist::threadsPerRank(2, 4), 1u);  // never below one
    }

    void shardsAreDistributedSamplerShares() {
        std::vector<std::size_t> order(10);
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = 100 + i;
        // Padded to 12 by repeating the start; rank r takes positions r, r+3, ...
        QCOMPARE(data::shardOrder(order, 0, 3), (std::vector<std::size_t>{100, 103, 106, 109}));
        QCOMPARE(data::shardOrder(order, 1, 3), (std::vector<std::size_t>{101, 104, 107, 100}));
        QCOMPARE(data::shardOrder(order, 2, 3), (std::vector<std::size_t>{102, 105, 108, 101}));
        QCOMPARE(data::shardOrder(order, 0, 1), order);
        // Two ranks' k-th batches of b together are one process's k-th batch of 2b.
        std::vector<std::size_t> even(16);
        for (std::size_t i = 0; i < even.size(); ++i) even[i] = (i * 7) % 16;
        const auto r0 = data::shardOrder(even, 0, 2), r1 = data::shardOrder(even, 1, 2);
        const std::size_t b = 2;
        for (std::size_t k = 0; k < r0.size() / b; ++k) {
            std::set<std::size_t> ranks, one(even.begin() + long(2 * b * k), even.begin() + long(2 * b * (k + 1)));
            ranks.insert(r0.begin() + long(b * k), r0.begin() + long(b * (k + 1)));
            ranks.insert(r1.begin() + long(b * k), r1.begin() + long(b * (k + 1)));
            QCOMPARE(ranks, one);
        }
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, data::shardOrder(order, 2, 2));
    }
};

QTEST_GUILESS_MAIN(TestWorld)
#include "test_world.moc"
