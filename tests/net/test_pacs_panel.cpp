// Qt Test for the PACS panel against a real Orthanc (orthanc_fixture.h), driven as a user
// would: nodes added/removed/saved, Echo, a query by date, a study's series, Retrieve as a
// job with progress, Cancel, and the errors shown. Grabs docs/screenshots/pacs_panel.png.
#include "pacs_panel.h"
#include "job_event_bridge.h"

#include "orthanc_fixture.h"

#include "demo/demo_workspace.h"
#include "jobs/job_pool.h"
#include "net/pacs_nodes.h"

#include "test_support.h"

#include <QComboBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>

using namespace lumen;
namespace fs = std::filesystem;

namespace {

/// A named child of the panel (the panel's object names are its test interface); fails the
/// test when it is missing.
template <typename T>
T* part(QWidget& w, const char* name) {
    T* child = w.findChild<T*>(QString::fromLatin1(name));
    if (!child) qFatal("no %s named %s", T::staticMetaObject.className(), name);
    return child;
}

int filesUnder(const fs::path& dir) {
    int n = 0;
    if (fs::exists(dir))
        for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
    return n;
}

void clickRow(QTableWidget* table, int row) {
    const QRect rect = table->visualItemRect(table->item(row, 0));
    QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, rect.center());
}

}  // namespace

class TestPacsPanel : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    test::OrthancServer orthanc_;
    net::PacsNode node_;
    QString workspace_;

private slots:
    void initTestCase() {
        const QString problem = orthanc_.start();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        node_ = {test::OrthancServer::kAeTitle, "127.0.0.1", orthanc_.dicomPort(), test::OrthancServer::kClientAeTitle,
                 10};
        const fs::path demo = dir_.filePath("demo").toStdString();
        demo::DemoOptions o;
        o.chestImages = 4;
        o.ctVolumes = 1;
        o.angioStudies = 3;
        o.predictionStudies = 4;
        demo::createDemoWorkspace(demo, o);
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(demo / "ct/dicom/ct_0001")) files.push_back(e.path());
        for (const auto& e : fs::recursive_directory_iterator(demo / "angio/studies"))
            if (e.is_regular_file()) files.push_back(e.path());
        const fs::path pydicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
        files.push_back(pydicom / "CT_small.dcm");
        files.push_back(pydicom / "MR_small.dcm");
        const QString stored = orthanc_.store(files);
        QVERIFY2(stored.isEmpty(), qPrintable(stored));

        workspace_ = dir_.filePath("workspace");
        fs::create_directories(workspace_.toStdString());
        net::savePacsNodes(workspace_.toStdString(), {{"orthanc", node_}});
    }

    void cleanupTestCase() { orthanc_.stop(); }

    void editsNodes() {
        widgets::PacsPanel panel;
        panel.setWorkspace(workspace_);
        QCOMPARE(part<QListWidget>(panel, "pacsNodeList")->count(), 1);
        QCOMPARE(part<QLineEdit>(panel, "pacsAeTitle")->text(), QString(test::OrthancServer::kAeTitle));
        QCOMPARE(part<QSpinBox>(panel, "pacsPort")->value(), orthanc_.dicomPort());

        QTest::mouseClick(part<QPushButton>(panel, "pacsAddNode"), Qt::LeftButton);
        QCOMPARE(part<QListWidget>(panel, "pacsNodeList")->count(), 2);
        QCOMPARE(part<QListWidget>(panel, "pacsNodeList")->currentRow(), 1);
        part<QLineEdit>(panel, "pacsNodeName")->clear();
        QTest::keyClicks(part<QLineEdit>(panel, "pacsNodeName"), "backup");
        part<QLineEdit>(panel, "pacsAeTitle")->clear();
        QTest::keyClicks(part<QLineEdit>(panel, "pacsAeTitle"), "BACKUP_PACS");
        part<QLineEdit>(panel, "pacsHost")->clear();
        QTest::keyClicks(part<QLineEdit>(panel, "pacsHost"), "pacs.example.org");
        part<QSpinBox>(panel, "pacsPort")->setValue(11112);
        QCOMPARE(part<QListWidget>(panel, "pacsNodeList")->item(1)->text(), QString("backup"));
        QSignalSpy saved(&panel, &widgets::PacsPanel::nodesSaved);
        QTest::mouseClick(part<QPushButton>(panel, "pacsSaveNodes"), Qt::LeftButton);
        QCOMPARE(saved.count(), 1);
        auto back = net::loadPacsNodes(workspace_.toStdString());
        QCOMPARE(int(back.size()), 2);
        QCOMPARE(back[1].node.address(), std::string("BACKUP_PACS@pacs.example.org:11112"));

        // An invalid node is not saved; the message names the key path.
        part<QLineEdit>(panel, "pacsAeTitle")->clear();
        QTest::keyClicks(part<QLineEdit>(panel, "pacsAeTitle"), "BAD\\AE");
        QTest::mouseClick(part<QPushButton>(panel, "pacsSaveNodes"), Qt::LeftButton);
        QCOMPARE(saved.count(), 1);
        QVERIFY2(panel.statusText().contains("nodes[1].ae_title"), qPrintable(panel.statusText()));

        QTest::mouseClick(part<QPushButton>(panel, "pacsRemoveNode"), Qt::LeftButton);
        QCOMPARE(part<QListWidget>(panel, "pacsNodeList")->count(), 1);
        QTest::mouseClick(part<QPushButton>(panel, "pacsSaveNodes"), Qt::LeftButton);
        QCOMPARE(int(net::loadPacsNodes(workspace_.toStdString()).size()), 1);

        // A broken nodes file: the panel says where, shows no nodes, and does not crash.
        QTemporaryDir broken;
        writeTextFile(broken, "pacs_nodes.yaml", "nodes:\n  - name: x\n    ae_title: X\n    host: h\n    port: zero\n");
        widgets::PacsPanel other;
        other.setWorkspace(broken.path());
        QCOMPARE(part<QListWidget>(other, "pacsNodeList")->count(), 0);
        QVERIFY2(other.statusText().contains("pacs_nodes.yaml:5: nodes[0].port"), qPrintable(other.statusText()));
        QVERIFY(!part<QPushButton>(other, "pacsEcho")->isEnabled());
    }

    void echoesAndShowsErrors() {
        widgets::PacsPanel panel;
        panel.setWorkspace(workspace_);
        panel.show();
        QSignalSpy echoed(&panel, &widgets::PacsPanel::echoFinished);
        QTest::mouseClick(part<QPushButton>(panel, "pacsEcho"), Qt::LeftButton);
        QVERIFY(echoed.wait(15000));
        QCOMPARE(echoed.at(0).at(0).toBool(), true);
        QVERIFY2(part<QLabel>(panel, "pacsEchoResult")->text().contains("answered C-ECHO"),
                 qPrintable(part<QLabel>(panel, "pacsEchoResult")->text()));

        // Wrong port: connection refused, naming host:port.
        const int closed = test::freeLoopbackPort();
        part<QSpinBox>(panel, "pacsPort")->setValue(closed);
        QTest::mouseClick(part<QPushButton>(panel, "pacsEcho"), Qt::LeftButton);
        QVERIFY(echoed.wait(15000));
        QCOMPARE(echoed.at(1).at(0).toBool(), false);
        QVERIFY2(part<QLabel>(panel, "pacsEchoResult")
                     ->text()
                     .contains(QString("connection refused (nothing listens on 127.0.0.1:%1)").arg(closed)),
                 qPrintable(part<QLabel>(panel, "pacsEchoResult")->text()));
        // Wrong called AE: rejected.
        part<QSpinBox>(panel, "pacsPort")->setValue(orthanc_.dicomPort());
        part<QLineEdit>(panel, "pacsAeTitle")->clear();
        QTest::keyClicks(part<QLineEdit>(panel, "pacsAeTitle"), "WHO");
        QTest::mouseClick(part<QPushButton>(panel, "pacsEcho"), Qt::LeftButton);
        QVERIFY(echoed.wait(15000));
        QVERIFY2(part<QLabel>(panel, "pacsEchoResult")->text().contains("called AE title \"WHO\" not recognized"),
                 qPrintable(part<QLabel>(panel, "pacsEchoResult")->text()));
    }

    void queriesRetrievesAndCancels() {
        jobs::JobPool pool(2);
        widgets::JobEventBridge bridge;
        widgets::PacsPanel panel;
        panel.setJobRunner(
            [&](const QString& kind, const QString& title, jobs::JobFunction work) {
                return pool.submit(kind.toStdString(), title.toStdString(), std::move(work), bridge.observer());
            },
            [&](jobs::JobId id) { return pool.cancel(id); }, &bridge);
        panel.setWorkspace(workspace_);
        panel.resize(1280, 820);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));

        // Query by date range: the CT and the three angiography studies.
        QTest::keyClicks(part<QLineEdit>(panel, "pacsDateFrom"), "20240101");
        QTest::keyClicks(part<QLineEdit>(panel, "pacsDateTo"), "20240131");
        QSignalSpy searched(&panel, &widgets::PacsPanel::searchFinished);
        QTest::mouseClick(part<QPushButton>(panel, "pacsSearch"), Qt::LeftButton);
        QVERIFY(searched.wait(15000));
        QCOMPARE(searched.at(0).at(0).toBool(), true);
        QTableWidget* studies = part<QTableWidget>(panel, "pacsStudies");
        QCOMPARE(studies->rowCount(), 4);
        QCOMPARE(studies->item(0, 0)->text(), QString("2024-01-02"));
        QCOMPARE(studies->item(0, 1)->text(), QString("CT0001"));
        QCOMPARE(studies->item(0, 3)->text(), QString("CT"));
        QCOMPARE(studies->item(0, 6)->text(), QString("48"));
        for (int r = 1; r < 4; ++r) QCOMPARE(studies->item(r, 3)->text(), QString("XA"));

        // An angiography study's two views.
        QSignalSpy seriesLoaded(&panel, &widgets::PacsPanel::seriesLoaded);
        clickRow(studies, 1);
        QVERIFY(seriesLoaded.wait(15000));
        QCOMPARE(part<QTableWidget>(panel, "pacsSeries")->rowCount(), 2);
        QCOMPARE(part<QTableWidget>(panel, "pacsSeries")->item(0, 2)->text(), QString("Left coronary LAO 30 CRA 20"));
        QCOMPARE(part<QTableWidget>(panel, "pacsSeries")->item(1, 2)->text(), QString("Right coronary LAO 40"));
        QCOMPARE(part<QPushButton>(panel, "pacsRetrieve")->text(), QString("Retrieve study"));

        // Retrieve only the second view.
        clickRow(part<QTableWidget>(panel, "pacsSeries"), 1);
        QCOMPARE(part<QPushButton>(panel, "pacsRetrieve")->text(), QString("Retrieve series"));
        QSignalSpy retrieved(&panel, &widgets::PacsPanel::retrieveFinished);
        QTest::mouseClick(part<QPushButton>(panel, "pacsRetrieve"), Qt::LeftButton);
        QVERIFY(panel.retrieving());
        QVERIFY(!part<QPushButton>(panel, "pacsRetrieve")->isEnabled());
        QVERIFY(retrieved.wait(30000));
        QCOMPARE(retrieved.at(0).at(0).toString(), QString("finished"));
        QVERIFY2(panel.statusText().contains("Retrieved 1 instance into"), qPrintable(panel.statusText()));
        const QString angioUid = studies->item(1, 8)->text();
        const fs::path pacs = fs::path(workspace_.toStdString()) / "pacs";
        QCOMPARE(filesUnder(pacs / angioUid.toStdString()), 1);

        // The CT study: the whole study, with the progress bar full at the end.
        clickRow(studies, 0);
        QVERIFY(seriesLoaded.wait(15000));
        QCOMPARE(part<QTableWidget>(panel, "pacsSeries")->item(0, 3)->text(), QString("48"));
        // The UID column fills the table (it once kept the width of an earlier layout).
        QCOMPARE(part<QTableWidget>(panel, "pacsSeries")->horizontalHeader()->length(),
                 part<QTableWidget>(panel, "pacsSeries")->viewport()->width());
        QTest::mouseClick(part<QPushButton>(panel, "pacsRetrieve"), Qt::LeftButton);
        QVERIFY(retrieved.wait(60000));
        QCOMPARE(retrieved.at(1).at(0).toString(), QString("finished"));
        QCOMPARE(part<QProgressBar>(panel, "pacsProgress")->value(), 1000);
        const QString ctUid = studies->item(0, 8)->text();
        QCOMPARE(filesUnder(pacs / ctUid.toStdString()), 48);

        // Cancel: press Cancel as soon as the first instances arrive; the job ends cancelled
        // long before the 48 instances are in.
        fs::remove_all(pacs / ctUid.toStdString());
        QSignalSpy progressed(&bridge, &widgets::JobEventBridge::progress);
        QTest::mouseClick(part<QPushButton>(panel, "pacsRetrieve"), Qt::LeftButton);
        QVERIFY(part<QPushButton>(panel, "pacsCancel")->isEnabled());
        QVERIFY(progressed.wait(30000));
        QTest::mouseClick(part<QPushButton>(panel, "pacsCancel"), Qt::LeftButton);
        QVERIFY(retrieved.wait(30000));
        QCOMPARE(retrieved.at(2).at(0).toString(), QString("cancelled"));
        const int partial = filesUnder(pacs / ctUid.toStdString());
        QVERIFY2(partial < 48, qPrintable(QString("%1 files after cancel").arg(partial)));
        QVERIFY(!part<QPushButton>(panel, "pacsCancel")->isEnabled());
        QVERIFY(part<QPushButton>(panel, "pacsRetrieve")->isEnabled());
        qInfo("cancelled with %d of 48 instances on disk", partial);

        // The screenshot: all studies of the PACS, the CT selected with its series.
        part<QLineEdit>(panel, "pacsDateFrom")->clear();
        part<QLineEdit>(panel, "pacsDateTo")->clear();
        QTest::mouseClick(part<QPushButton>(panel, "pacsSearch"), Qt::LeftButton);
        QVERIFY(searched.wait(15000));
        QCOMPARE(studies->rowCount(), 6);
        QSignalSpy echoed(&panel, &widgets::PacsPanel::echoFinished);
        QTest::mouseClick(part<QPushButton>(panel, "pacsEcho"), Qt::LeftButton);
        QVERIFY(echoed.wait(15000));
        for (int r = 0; r < studies->rowCount(); ++r)
            if (studies->item(r, 1)->text() == "CT0001") clickRow(studies, r);
        QVERIFY(seriesLoaded.wait(15000));
        QTest::mouseClick(part<QPushButton>(panel, "pacsRetrieve"), Qt::LeftButton);
        QVERIFY(retrieved.wait(60000));
        QCOMPARE(retrieved.last().at(0).toString(), QString("finished"));
        const QString shot = screenshotPath("pacs_panel.png");
        QVERIFY(panel.grab().save(shot));
        qInfo("screenshot %s", qPrintable(shot));
    }
};

QTEST_MAIN(TestPacsPanel)
#include "test_pacs_panel.moc"
