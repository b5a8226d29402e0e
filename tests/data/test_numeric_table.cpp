// Qt Test suite for core/data/numeric_table: the CSV reader behind audits and metrics.
#include "data/numeric_table.h"

#include "test_support.h"

#include <QProcess>
#include <QTemporaryDir>

#include <cmath>
#include <fstream>
#include <random>

using namespace lumen::data;

namespace {

std::string errorOf(const std::string& path, const CsvReadOptions& o = {}) {
    try {
        readNumericCsv(path, o);
    } catch (const TableError& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

class TestNumericTable : public QObject {
    Q_OBJECT
private slots:
    void parsesCells_data() {
        QTest::addColumn<QString>("cell");
        QTest::addColumn<bool>("numeric");
        QTest::addColumn<double>("value");  // NaN: missing
        QTest::newRow("int") << "42" << true << 42.0;
        QTest::newRow("decimal") << "0.1" << true << 0.1;
        QTest::newRow("negative") << "-3.25" << true << -3.25;
        QTest::newRow("plus") << "+7" << true << 7.0;
        QTest::newRow("exponent") << "1.5e-3" << true << 1.5e-3;
        QTest::newRow("exponent upper") << "2E+10" << true << 2e10;
        QTest::newRow("leading dot") << ".5" << true << 0.5;
        QTest::newRow("trailing dot") << "5." << true << 5.0;
        QTest::newRow("long mantissa") << "0.12345678901234567890123" << true << 0.12345678901234567890123;
        QTest::newRow("spaces") << "  1.25 " << true << 1.25;
        QTest::newRow("inf") << "inf" << true << double(INFINITY);
        QTest::newRow("empty") << "" << true << double(NAN);
        QTest::newRow("nan") << "nan" << true << double(NAN);
        QTest::newRow("NA") << "NA" << true << double(NAN);
        QTest::newRow("null") << "null" << true << double(NAN);
        QTest::newRow("text") << "high" << false << 0.0;
        QTest::newRow("two dots") << "1.2.3" << false << 0.0;
        QTest::newRow("sign only") << "-" << false << 0.0;
        QTest::newRow("dot only") << "." << false << 0.0;
    }
    void parsesCells() {
        QFETCH(QString, cell);
        QFETCH(bool, numeric);
        QFETCH(double, value);
        const std::string text = cell.toStdString();
        double v = -1;
        QCOMPARE(parseNumericCell(text.data(), text.data() + text.size(), v), numeric);
        if (!numeric) return;
        if (std::isnan(value)) QVERIFY(std::isnan(v));
        else QCOMPARE(v, value);
    }

    void tableCellsAgreeWithTheCellParser() {
        // The reader's fast paths (SSE / SWAR) must give what parseNumericCell gives.
        const std::vector<std::string> cells = {"0.123456",
                                                "-0.5",
                                                "123",
                                                "1.",
                                                ".5",
                                                "00012.50",
                                                "-7",
                                                "+3",
                                                "",
                                                "1e3",
                                                "-1.25e-2",
                                                "123456789012345",
                                                "1234567890123456",
                                                "12345678901234567",
                                                "0.000000000000001",
                                                "99999999.99999999",
                                                "-0",
                                                "3.14159265358979",
                                                "4294967296.5",
                                                "NaN",
                                                "inf"};
        std::string csv = "id";
        for (size_t c = 0; c < cells.size(); ++c) csv += ",c" + std::to_string(c);
        csv += "\nrow";
        for (const auto& cell : cells) csv += "," + cell;
        csv += "\n";
        QTemporaryDir dir;
        const NumericTable t = readNumericCsv(writeTextFile(dir, "cells.csv", csv));
        QCOMPARE(t.columns.size(), cells.size());
        for (size_t c = 0; c < cells.size(); ++c) {
            double expected = 0;
            QVERIFY(parseNumericCell(cells[c].data(), cells[c].data() + cells[c].size(), expected));
            const double got = t.values[c][0];
            if (std::isnan(expected)) QVERIFY2(std::isnan(got), cells[c].c_str());
            else QVERIFY2(got == expected && std::signbit(got) == std::signbit(expected), cells[c].c_str());
        }
    }

    void readsQuotesCrlfBomAndStringIds() {
        QTemporaryDir dir;
        const auto path = writeTextFile(dir, "t.csv",
                                        "\xEF\xBB\xBFstudy_id,\"prox_rca_stenosis\",note,cto\r\n"
                                        "0001234,12.5,\"has, comma\",0.01\r\n"
                                        "\"0000007\",1e2,\"multi\nline \"\"quoted\"\"\",\r\n"
                                        "42,nan,plain,0.5\r\n");
        const NumericTable t = readNumericCsv(path);
        QCOMPARE(t.idName, std::string("study_id"));
        QCOMPARE(t.ids, (std::vector<std::string>{"0001234", "0000007", "42"}));
        QCOMPARE(t.columns, (std::vector<std::string>{"prox_rca_stenosis", "cto"}));
        QCOMPARE(t.values[0][0], 12.5);
        QCOMPARE(t.values[0][1], 100.0);
        QVERIFY(std::isnan(t.values[0][2]));
        QVERIFY(std::isnan(t.values[1][1]));  // empty cell = missing
        QCOMPARE(t.values[1][2], 0.5);
        QCOMPARE(t.textColumns.size(), size_t(1));
        QVERIFY2(t.textColumns[0].rfind("note (line 2: \"has, comma\")", 0) == 0, t.textColumns[0].c_str());
        QCOMPARE(t.columnIndex("cto"), 1);
        QCOMPARE(t.columnIndex("note"), -1);
    }

    void mixedColumnsKeepTheirNumbers() {
        // keepMixedColumns: one text cell does not drop the column; it is read as missing and
        // named (line, column, text); a column without a number stays a text column. Both the
        // fast path (plain lines) and the general one (a quoted line) are exercised.
        QTemporaryDir dir;
        const auto path =
            writeTextFile(dir, "m.csv", "id,risk,note,v\na,0.5,x,1\nb,high,y,2\n\"c\",low,,3\nd,0.25,z,\n");
        CsvReadOptions o;
        o.keepMixedColumns = true;
        const NumericTable t = readNumericCsv(path, o);
        QCOMPARE(t.columns, (std::vector<std::string>{"risk", "v"}));
        QCOMPARE(t.values[0][0], 0.5);
        QVERIFY(std::isnan(t.values[0][1]) && std::isnan(t.values[0][2]));
        QCOMPARE(t.values[0][3], 0.25);
        QCOMPARE(t.textCellCount, std::uint64_t(2));
        QCOMPARE(t.textCells.size(), size_t(2));
        QCOMPARE(t.textCells[0].column, std::string("risk"));
        QCOMPARE(t.textCells[0].line, 3LL);
        QCOMPARE(t.textCells[0].text, std::string("high"));
        QCOMPARE(t.textCells[1].line, 4LL);
        QCOMPARE(t.textCells[1].text, std::string("low"));
        QCOMPARE(t.textColumns, std::vector<std::string>{"note (line 2: \"x\")"});
        QCOMPARE(t.textColumnCells.at(0).line, 2LL);
        // Without the option the old behaviour: the column is text.
        const NumericTable plain = readNumericCsv(path);
        QCOMPARE(plain.columns, std::vector<std::string>{"v"});
        QCOMPARE(plain.textColumns.at(0), std::string("risk (line 3: \"high\")"));
        QCOMPARE(plain.textCellCount, std::uint64_t(0));
    }

    void headerAlone() {
        QTemporaryDir dir;
        const auto path = writeTextFile(dir, "h.csv", "\xEF\xBB\xBF\"study id\",x\r\n1,2\n1,3\n");
        QCOMPARE(readCsvHeader(path), (std::vector<std::string>{"study id", "x"}));
        const auto empty = writeTextFile(dir, "e.csv", "");
        QCOMPARE(errorOf<TableError>([&] { readCsvHeader(empty); }), empty + ": the file is empty (no header row)");
    }

    void idColumnByName() {
        QTemporaryDir dir;
        const auto path = writeTextFile(dir, "t.csv", "a,image,b\n1,x.png,2\n3,y.png,4\n");
        CsvReadOptions o;
        o.idColumn = "image";
        const NumericTable t = readNumericCsv(path, o);
        QCOMPARE(t.ids, (std::vector<std::string>{"x.png", "y.png"}));
        QCOMPARE(t.columns, (std::vector<std::string>{"a", "b"}));
        QCOMPARE(t.values[1][1], 4.0);
        o.idColumn = "study_id";
        QCOMPARE(errorOf(path, o), path + ": no id column \"study_id\" in the header (columns: a, image, b)");
    }

    void errorsNameFileAndLine_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("error");
        QTest::newRow("missing field") << "id,a,b\n1,2,3\n2,3\n"
                                       << ":3: expected 3 fields as in the header, found 2";
        QTest::newRow("extra field") << "id,a\n1,2\n\n2,3,4\n"
                                     << ":4: expected 2 fields as in the header, found 3";
        QTest::newRow("unterminated") << "id,a\n1,\"2\n"
                                      << ":2: unterminated quoted field";
        QTest::newRow("duplicate id") << "id,a\n7,1\n8,2\n7,3\n"
                                      << ": id \"7\" appears twice (data rows 1 and 3)";
        QTest::newRow("duplicate column") << "id,a,a\n1,2,3\n"
                                          << ":1: column \"a\" appears twice in the header";
        QTest::newRow("empty") << ""
                               << ": the file is empty (no header row)";
        QTest::newRow("junk after quote") << "id,a\n1,\"2\"x\n"
                                          << ":2: unexpected character after a closing quote";
    }
    void errorsNameFileAndLine() {
        QFETCH(QString, text);
        QFETCH(QString, error);
        QTemporaryDir dir;
        const auto path = writeTextFile(dir, "bad.csv", text.toStdString());
        QCOMPARE(QString::fromStdString(errorOf(path)), QString::fromStdString(path) + error);
    }

    void missingFileNamed() {
        QCOMPARE(errorOf("/nonexistent/new.csv"),
                 std::string("/nonexistent/new.csv: cannot open the file for reading"));
    }

    void filesAroundTheReadChunkSizeReadTheSame() {
        // The read chunk is the file's size (at least 4 KiB) up to 4 MiB: files just under, at
        // and over 4 KiB, with a quoted multi-line cell half the file long, read every row and
        // hand every byte to onBytes once.
        QTemporaryDir dir;
        for (const std::size_t target : {std::size_t(100), std::size_t(4095), std::size_t(4096), std::size_t(4097),
                                         std::size_t(9000), std::size_t(70000)}) {
            std::string text = "id,x\n";
            const std::string longCell(target / 2, 'q');
            text += "\"" + longCell + "\n\",-1\n";
            std::size_t rows = 1;
            while (text.size() < target) {
                const std::string row = "r" + std::to_string(rows) + "," + std::to_string(rows) + ".5\n";
                text += row;
                ++rows;
            }
            const std::string path = writeTextFile(dir, "s" + std::to_string(target) + ".csv", text);
            std::string seen;
            CsvReadOptions o;
            o.onBytes = [&](const char* data, std::size_t size) { seen.append(data, size); };
            const NumericTable t = readNumericCsv(path, o);
            QCOMPARE(seen, text);
            QCOMPARE(t.rowCount(), rows);
            QCOMPARE(t.ids[0], longCell + "\n");
            QCOMPARE(t.values[0][0], -1.0);
            for (std::size_t r = 1; r < rows; ++r) {
                QCOMPARE(t.ids[r], "r" + std::to_string(r));
                QCOMPARE(t.values[0][r], double(r) + 0.5);
            }
        }
    }

    void largeFileAcrossChunksMatchesPandas() {
        // ~12 MB: several 4 MB read chunks, with quoted ids and multi-line cells spread through.
        QTemporaryDir dir;
        const std::string path = dir.filePath("big.csv").toStdString();
        std::mt19937_64 rng(5);
        std::uniform_real_distribution<double> u(-1000, 1000);
        {
            std::ofstream out(path, std::ios::binary);
            out << "id,x,y,z,w\n";
            char buf[64];
            for (int r = 0; r < 150000; ++r) {
                if (r % 997 == 0) out << "\"id " << r << "\nwrapped\"";
                else out << "id" << r;
                for (int c = 0; c < 4; ++c) {
                    const double v = u(rng);
                    if ((r + c) % 101 == 0) out << ",";
                    else if (c == 1) {
                        std::snprintf(buf, sizeof buf, ",%.17g", v);
                        out << buf;
                    } else if (c == 2) {
                        std::snprintf(buf, sizeof buf, ",%.3e", v);
                        out << buf;
                    } else {
                        std::snprintf(buf, sizeof buf, ",%.6f", v);
                        out << buf;
                    }
                }
                out << (r % 2 ? "\r\n" : "\n");
            }
        }
        const NumericTable t = readNumericCsv(path);
        QCOMPARE(t.rowCount(), size_t(150000));
        QCOMPARE(t.ids[997], std::string("id 997\nwrapped"));
        // pandas with round-trip float parsing is the reference (its default parser is not
        // always correctly rounded).
        const QString script = R"(
import sys, pandas as pd, numpy as np
df = pd.read_csv(sys.argv[1], dtype={'id': str}, float_precision='round_trip')
out = open(sys.argv[2], 'w')
for c in ['x','y','z','w']:
    v = df[c].to_numpy()
    out.write(c + ' ' + ' '.join(repr(float(a)) for a in v[:50]) + '\n')
    out.write(c + '_nan ' + str(int(np.isnan(v).sum())) + '\n')
    out.write(c + '_sum ' + repr(float(np.nansum(v))) + '\n')
out.write('id997 ' + repr(df['id'][997]) + '\n')
)";
        const std::string ref = dir.filePath("ref.txt").toStdString();
        QProcess py;
        py.start("/usr/bin/python3", {"-c", script, QString::fromStdString(path), QString::fromStdString(ref)});
        QVERIFY(py.waitForFinished(120000));
        QVERIFY2(py.exitCode() == 0, py.readAllStandardError().constData());
        std::ifstream in(ref);
        std::map<std::string, std::vector<double>> expected;
        std::string id997;
        for (std::string line; std::getline(in, line);) {
            const auto space = line.find(' ');
            const std::string key = line.substr(0, space);
            if (key == "id997") {
                id997 = line.substr(space + 1);
                continue;
            }
            std::stringstream values(line.substr(space + 1));
            for (std::string v; values >> v;) expected[key].push_back(v == "nan" ? NAN : std::stod(v));
        }
        QCOMPARE(id997, std::string("'id 997\\nwrapped'"));
        const char* names[] = {"x", "y", "z", "w"};
        for (int c = 0; c < 4; ++c) {
            const auto& col = t.values[size_t(c)];
            const auto& head = expected[names[c]];
            QCOMPARE(head.size(), size_t(50));
            for (size_t i = 0; i < 50; ++i) {
                if (std::isnan(head[i])) QVERIFY(std::isnan(col[i]));
                else QCOMPARE(col[i], head[i]);  // bit-exact
            }
            size_t nan = 0;
            double sum = 0;
            for (double v : col) {
                if (std::isnan(v)) ++nan;
                else sum += v;
            }
            QCOMPARE(double(nan), expected[std::string(names[c]) + "_nan"][0]);
            QVERIFY(std::abs(sum - expected[std::string(names[c]) + "_sum"][0]) < 1e-6);
        }
    }
};

QTEST_GUILESS_MAIN(TestNumericTable)
#include "test_numeric_table.moc"
