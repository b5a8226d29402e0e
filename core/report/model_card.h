#pragma once
// The model card of a run (docs/cards.md): built from the workspace's run store and the run's
// files, with every number from the run store or the metrics engine (core/metrics): model and
// checkpoint SHA-256, data (manifest SHA-256, counts per split, label balance, patient-level
// split proof), training config and hash, environment, metrics per label with bootstrap
// intervals, calibration before/after temperature scaling, thresholds, reproducibility record.
// Intended use and limitations are placeholders the user fills. Torch-free.

#include "data/dataset_stats.h"
#include "data/splits.h"
#include "metrics/calibration.h"
#include "metrics/metrics_report.h"
#include "report/card_document.h"
#include "runs/run_store.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::report {

/// A card that cannot be built: what() names the run, file or key.
class CardError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ModelCardOptions {
    bool includeIds = false;  ///< list patient ids (e.g. patients shared between splits); default: counts only
    int bootstrapResamples = 1000;
    std::uint64_t seed = 0;
    std::filesystem::path predictions;  ///< override the run's predictions artifact
    std::filesystem::path manifest;     ///< override the config's data.manifest (truths from its label columns)
    std::filesystem::path labels;       ///< a labels table (id + one 0/1 column per label) instead of a manifest
};

/// Everything the card shows, as numbers (tests compare these with the engine's).
struct ModelCard {
    runs::RunRecord run;                   ///< the run the card is for
    std::optional<runs::RunRecord> train;  ///< the training run (the run itself, or the run of its checkpoint)
    std::optional<runs::RunRecord> infer;  ///< the run whose predictions are evaluated
    std::string seed;                      ///< the config's seed ("" when absent)
    std::filesystem::path checkpoint;
    std::string checkpointSha256;
    std::filesystem::path torchscript;
    std::string torchscriptSha256;

    std::filesystem::path manifestFile;  ///< empty when truths came from a labels table
    std::string manifestSha256;
    std::filesystem::path labelsFile;
    std::string labelsSha256;
    std::optional<data::SplitReport> splits;
    std::optional<data::LabelBalance> balance;

    std::filesystem::path predictionsFile;
    std::string predictionsSha256;
    std::vector<std::string> predictionColumns;  ///< per label, the predictions column used
    std::size_t onlyInPredictions = 0, onlyInTruth = 0;
    std::vector<std::string> evaluatedSplits;  ///< splits of the evaluated rows with their counts ("test: 60")

    std::vector<double> thresholds;  ///< per label
    std::string thresholdSource;
    metrics::MultiLabelReport metrics;
    metrics::MultiLabelIntervals intervals;

    metrics::TemperatureFit temperature;
    std::string temperatureRows;  ///< which rows it was fitted on and evaluated on
    double eceBefore = 0, eceAfter = 0, brierBefore = 0, brierAfter = 0;  ///< pooled over labels, evaluation rows
    std::vector<double> labelEceBefore, labelEceAfter;                    ///< per label (NaN when undefined)

    std::vector<runs::MetricSummary> trainingMetrics;  ///< of the training run
    CardDocument document;
};

/// Builds the card of run `id` in `workspace`. Throws CardError naming the run or the file
/// when the run, its predictions or its truths cannot be found or read.
ModelCard buildModelCard(const runs::RunStore& store, const runs::Workspace& workspace, std::int64_t id,
                         const ModelCardOptions& options = {});

}  // namespace lumen::report
