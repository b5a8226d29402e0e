// Human column names for the study view: coronary segments × heads, NIH findings with the
// ROI-consistency measures, CT-RATE labels, and the generic fallback.
#include "data/column_names.h"

#include "test_support.h"

#include <set>

using namespace lumen::data;

class TestColumnNames : public QObject {
    Q_OBJECT
private slots:
    void humanNames_data() {
        QTest::addColumn<QString>("column");
        QTest::addColumn<QString>("expected");
        QTest::newRow("stenosis") << "prox_rca_stenosis"
                                  << "Proximal RCA — stenosis %";
        QTest::newRow("binary") << "prox_rca_stenosis_binary"
                                << "Proximal RCA — P(stenosis ≥ 70 %)";
        QTest::newRow("calcif") << "left_main_calcif_binary"
                                << "Left main — P(calcification)";
        QTest::newRow("cto") << "D1_cto"
                             << "First diagonal (D1) — P(CTO)";
        QTest::newRow("thrombus") << "lima_or_svg_thrombus"
                                  << "Graft (LIMA or SVG) — P(thrombus)";
        QTest::newRow("dist_lcx") << "dist_lcx_stenosis"
                                  << "Distal circumflex — stenosis %";
        QTest::newRow("roi full") << "Pleural_Thickening.prob_full"
                                  << "Pleural thickening — P(full)";
        QTest::newRow("roi drop") << "Effusion.prob_drop"
                                  << "Effusion — P(drop)";
        QTest::newRow("roi faith") << "Mass.faithfulness"
                                   << "Mass — faithfulness";
        QTest::newRow("nih plain") << "Pleural_Thickening"
                                   << "Pleural thickening";
        QTest::newRow("ct-rate") << "Coronary artery wall calcification"
                                 << "Coronary artery wall calcification";
        QTest::newRow("ct snake") << "lung_nodule"
                                  << "Lung nodule";
        QTest::newRow("ct prob") << "Lung nodule.prob"
                                 << "Lung nodule — P";
        QTest::newRow("unknown segment") << "foo_stenosis"
                                         << "Foo stenosis";
        QTest::newRow("unknown measure") << "Mass.some_score"
                                         << "Mass — some score";
        QTest::newRow("no finding") << "No_Finding"
                                    << "No finding";
    }
    void humanNames() {
        QFETCH(QString, column);
        QFETCH(QString, expected);
        QCOMPARE(QString::fromStdString(humanColumnName(column.toStdString())), expected);
    }

    void splits() {
        auto p = splitColumn("mid_lad_stenosis_binary");
        QCOMPARE(p.label, std::string("mid_lad"));
        QCOMPARE(p.measure, std::string("stenosis_binary"));
        p = splitColumn("Atelectasis.prob_crop");
        QCOMPARE(p.label, std::string("Atelectasis"));
        QCOMPARE(p.measure, std::string("prob_crop"));
        p = splitColumn("Hernia");
        QCOMPARE(p.label, std::string("Hernia"));
        QVERIFY(p.measure.empty());
        // A trailing or leading dot is not a measure.
        QCOMPARE(splitColumn("odd.").label, std::string("odd."));
        QCOMPARE(coronarySegments().size(), std::size_t(18));
        // Every segment × head has its own distinct name.
        std::set<std::string> names;
        for (const auto& s : coronarySegments())
            for (const char* h : {"_stenosis", "_stenosis_binary", "_calcif_binary", "_cto", "_thrombus"})
                names.insert(humanColumnName(s + h));
        QCOMPARE(names.size(), std::size_t(90));
    }
};

QTEST_APPLESS_MAIN(TestColumnNames)
#include "test_column_names.moc"
