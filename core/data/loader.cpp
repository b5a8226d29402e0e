#include "data/loader.h"

#include "io/media_reader.h"
#include "io/read_error.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace lumen::data {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- image dataset

cv::Mat loadUnitImage(const fs::path& file, int channels) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw DataError(file, "file not found");
    io::MediaFile media;
    try {
        media = io::readMedia(file);
    } catch (const io::ReadError& e) {
        throw DataError(file, e.reason());
    } catch (const std::exception& e) {
        throw DataError(file, e.what());
    }
    const io::ImageVolume& v = media.volume;
    if (v.rows <= 0 || v.columns <= 0 || v.values.empty()) throw DataError(file, "no pixels");
    if (v.isVolume && v.depth > 1)
        throw DataError(file, "a volume (" + std::to_string(v.depth) + " slices), not a 2-D image");
    if (v.samples != 1 && v.samples != 3)
        throw DataError(file, std::to_string(v.samples) + " samples per pixel (expected 1 or 3)");
    // First frame of a cine or multi-frame file.
    const std::size_t plane = std::size_t(v.rows) * std::size_t(v.columns) * std::size_t(v.samples);
    cv::Mat m(v.rows, v.columns, CV_32FC(v.samples));
    std::memcpy(m.data, v.values.data(), plane * sizeof(float));

    // Intensity scaling to [0, 1].
    double lo = 0, hi = 1;
    const bool dicom = v.meta.format == "DICOM";
    if (!dicom && v.storedType == io::StoredType::U8) {
        hi = 255;
    } else if (!dicom && v.storedType == io::StoredType::U16) {
        hi = 65535;
    } else if (dicom && v.meta.windowCenter && v.meta.windowWidth && *v.meta.windowWidth > 0) {
        lo = *v.meta.windowCenter - *v.meta.windowWidth / 2;
        hi = *v.meta.windowCenter + *v.meta.windowWidth / 2;
    } else {
        cv::minMaxLoc(m.reshape(1), &lo, &hi);
        if (hi <= lo) hi = lo + 1;
    }
    m.convertTo(m, CV_32F, 1.0 / (hi - lo), -lo / (hi - lo));
    cv::min(m, 1.0, m);
    cv::max(m, 0.0, m);
    if (v.meta.invertForDisplay) m = 1.0 - m;

    if (channels == 3 && m.channels() == 1) {
        cv::Mat c;
        cv::cvtColor(m, c, cv::COLOR_GRAY2RGB);
        m = c;
    } else if (channels == 1 && m.channels() == 3) {
        cv::Mat g;
        cv::cvtColor(m, g, cv::COLOR_RGB2GRAY);
        m = g;
    }
    return m;
}

namespace {

class ImageDataset : public Dataset {
public:
    ImageDataset(Manifest m, int channels, AugmentOptions a, std::vector<float> mean, std::vector<float> stdev)
        : manifest_(std::move(m)), channels_(channels), augment_(a), mean_(std::move(mean)), stdev_(std::move(stdev)) {}

    std::size_t size() const override { return manifest_.rows.size(); }

    Sample get(std::size_t index, std::uint64_t seed) const override {
        if (index >= manifest_.rows.size())
            throw std::out_of_range("sample index " + std::to_string(index) + " outside 0.." +
                                    std::to_string(manifest_.rows.size()));
        const ManifestRow& row = manifest_.rows[index];
        const fs::path file = manifest_.resolve(row);
        Sample s;
        s.id = row.id;
        s.patientId = row.patientId;
        try {
            s.image = augmentImage(loadUnitImage(file, channels_), augment_, seed);
        } catch (const DataError& e) {
            throw DataError(e.file(), e.reason() + " (manifest " + manifest_.file.string() + ", id " + row.id + ")");
        } catch (const std::exception& e) {
            throw DataError(file,
                            std::string(e.what()) + " (manifest " + manifest_.file.string() + ", id " + row.id + ")");
        }
        if (!mean_.empty()) {
            cv::Scalar m, sd;
            for (int c = 0; c < channels_; ++c) {
                m[c] = mean_.size() == 1 ? mean_[0] : mean_[std::size_t(c)];
                sd[c] = stdev_.size() == 1 ? stdev_[0] : stdev_[std::size_t(c)];
            }
            cv::subtract(s.image, m, s.image);
            cv::divide(s.image, sd, s.image);
        }
        s.target.assign(manifest_.labelNames.size(), 0.0f);
        for (const auto& l : row.labels) {
            const int k = manifest_.labelIndex(l);
            if (k >= 0) s.target[std::size_t(k)] = 1.0f;
        }
        return s;
    }

private:
    Manifest manifest_;
    int channels_;
    AugmentOptions augment_;
    std::vector<float> mean_, stdev_;
};

}  // namespace

std::shared_ptr<Dataset> makeImageDataset(const Manifest& manifest, int channels, AugmentOptions augment,
                                          std::vector<float> mean, std::vector<float> stdev) {
    if (channels != 1 && channels != 3)
        throw std::invalid_argument("image dataset: channels must be 1 or 3, got " + std::to_string(channels));
    if (mean.empty() != stdev.empty())
        throw std::invalid_argument("image dataset: give both mean and stdev, or neither");
    for (const auto* v : {&mean, &stdev})
        if (!v->empty() && v->size() != 1 && v->size() != std::size_t(channels))
            throw std::invalid_argument("image dataset: mean/stdev need 1 or " + std::to_string(channels) + " values");
    for (float s : stdev)
        if (!(s > 0)) throw std::invalid_argument("image dataset: stdev must be > 0");
    if (augment.resize < 0 || augment.crop < 0 || augment.rotateDegrees < 0 || augment.brightness < 0 ||
        augment.brightness >= 1 || augment.contrast < 0 || augment.contrast >= 1)
        throw std::invalid_argument("image dataset: augmentation options out of range");
    return std::make_shared<ImageDataset>(manifest, channels, augment, std::move(mean), std::move(stdev));
}

// ---------------------------------------------------------------- order and seeds

namespace {
constexpr std::uint64_t kOrderStream = 0x6f72646572ull;     // "order"
constexpr std::uint64_t kSampleStream = 0x73616d706c65ull;  // "sample"
}  // namespace

std::vector<std::size_t> epochOrder(std::size_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    if (!shuffle) return order;
    SampleRandom rng(mixSeed(seed, std::uint64_t(epoch), kOrderStream));
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[std::size_t(rng.below(i))]);
    return order;
}

std::vector<std::size_t> shardOrder(const std::vector<std::size_t>& order, int rank, int worldSize) {
    if (worldSize < 1 || rank < 0 || rank >= worldSize)
        throw std::invalid_argument("shardOrder: rank " + std::to_string(rank) + " is not in [0, " +
                                    std::to_string(worldSize) + ")");
    if (worldSize == 1 || order.empty()) return order;
    const std::size_t w = static_cast<std::size_t>(worldSize);
    const std::size_t padded = (order.size() + w - 1) / w * w;
    std::vector<std::size_t> mine;
    mine.reserve(padded / w);
    for (std::size_t pos = static_cast<std::size_t>(rank); pos < padded; pos += w)
        mine.push_back(order[pos % order.size()]);
    return mine;
}

std::uint64_t sampleSeed(std::uint64_t seed, std::int64_t epoch, std::size_t datasetIndex) {
    return mixSeed(mixSeed(seed, std::uint64_t(epoch), kSampleStream), std::uint64_t(datasetIndex));
}

// ---------------------------------------------------------------- batch loader

namespace {
struct Stopped {};  // unwinds a worker out of a batch when the loader stops
}  // namespace

struct BatchLoader::Impl {
    std::shared_ptr<const Dataset> dataset;
    LoaderOptions options;

    std::mutex mutex;
    std::mutex joinMutex;  // serialises stop()/startEpoch() callers
    std::condition_variable workAvailable, batchReady;
    std::vector<std::thread> workers;
    std::vector<std::size_t> order;
    std::int64_t epoch = 0;
    std::int64_t total = 0, claimed = 0, delivered = 0;
    struct Slot {
        std::optional<Batch> batch;
        std::exception_ptr error;
    };
    std::map<std::int64_t, Slot> ready;
    bool started = false, running = false, stopping = false;
    std::atomic<bool> stopFlag{false};

    std::int64_t batchCount() const {
        const auto w = std::int64_t(options.worldSize);
        const auto n = (std::int64_t(dataset->size()) + w - 1) / w, b = std::int64_t(options.batchSize);
        return options.dropLast ? n / b : (n + b - 1) / b;
    }

    Batch makeBatch(std::int64_t index) const {
        Batch batch;
        batch.epoch = epoch;
        batch.index = index;
        const std::size_t begin = std::size_t(index) * std::size_t(options.batchSize);
        const std::size_t end = std::min(order.size(), begin + std::size_t(options.batchSize));
        batch.n = int(end - begin);
        for (std::size_t pos = begin; pos < end; ++pos) {
            if (stopFlag.load(std::memory_order_relaxed)) throw Stopped{};
            const std::size_t di = order[pos];
            Sample s = dataset->get(di, sampleSeed(options.seed, epoch, di));
            const int k = int(pos - begin);
            if (s.image.empty() || s.image.depth() != CV_32F)
                throw std::runtime_error("sample " + s.id + ": the dataset gave an empty or non-float image");
            if (k == 0) {
                batch.c = s.image.channels();
                batch.h = s.image.rows;
                batch.w = s.image.cols;
                batch.numTargets = int(s.target.size());
                batch.images.resize(std::size_t(batch.n) * batch.c * batch.h * batch.w);
                batch.targets.resize(std::size_t(batch.n) * std::size_t(batch.numTargets));
            } else if (s.image.channels() != batch.c || s.image.rows != batch.h || s.image.cols != batch.w ||
                       int(s.target.size()) != batch.numTargets) {
                throw std::runtime_error("sample " + s.id + " is " + std::to_string(s.image.cols) + "x" +
                                         std::to_string(s.image.rows) + "x" + std::to_string(s.image.channels()) +
                                         " with " + std::to_string(s.target.size()) +
                                         " targets, but the batch's first is " + std::to_string(batch.w) + "x" +
                                         std::to_string(batch.h) + "x" + std::to_string(batch.c) + " with " +
                                         std::to_string(batch.numTargets) + " (set a resize and crop)");
            }
            const std::size_t planeSize = std::size_t(batch.h) * std::size_t(batch.w);
            float* dst = batch.images.data() + std::size_t(k) * std::size_t(batch.c) * planeSize;
            if (batch.c == 1) {
                const cv::Mat img = s.image.isContinuous() ? s.image : s.image.clone();
                std::memcpy(dst, img.ptr<float>(), planeSize * sizeof(float));
            } else {
                std::vector<cv::Mat> planes;
                for (int ch = 0; ch < batch.c; ++ch)
                    planes.emplace_back(batch.h, batch.w, CV_32FC1, dst + std::size_t(ch) * planeSize);
                cv::split(s.image, planes);  // writes straight into the batch buffer
            }
            std::copy(s.target.begin(), s.target.end(), batch.targets.begin() + std::ptrdiff_t(k) * batch.numTargets);
            batch.ids.push_back(std::move(s.id));
            batch.patientIds.push_back(std::move(s.patientId));
            batch.datasetIndices.push_back(di);
        }
        return batch;
    }

    void workerLoop() {
        std::unique_lock lock(mutex);
        for (;;) {
            workAvailable.wait(lock,
                               [&] { return stopping || claimed >= total || claimed < delivered + options.prefetch; });
            if (stopping || claimed >= total) return;
            const std::int64_t index = claimed++;
            lock.unlock();
            Slot slot;
            try {
                slot.batch = makeBatch(index);
            } catch (const Stopped&) {
                lock.lock();
                return;
            } catch (...) {
                slot.error = std::current_exception();
            }
            lock.lock();
            if (stopping) return;
            ready.emplace(index, std::move(slot));
            batchReady.notify_all();
        }
    }

    void stopWorkers() {
        {
            std::lock_guard lock(mutex);
            stopping = true;
            running = false;
            stopFlag = true;
        }
        workAvailable.notify_all();
        batchReady.notify_all();
        for (auto& t : workers)
            if (t.joinable()) t.join();
        workers.clear();
        std::lock_guard lock(mutex);
        ready.clear();
    }
};

BatchLoader::BatchLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
    if (!dataset) throw std::invalid_argument("BatchLoader: no dataset");
    if (options.batchSize < 1) throw std::invalid_argument("BatchLoader: batchSize must be >= 1");
    if (options.worldSize < 1 || options.rank < 0 || options.rank >= options.worldSize)
        throw std::invalid_argument("BatchLoader: rank must be in [0, worldSize)");
    if (options.workers < 0) throw std::invalid_argument("BatchLoader: workers must be >= 0");
    if (options.prefetch < 1) throw std::invalid_argument("BatchLoader: prefetch must be >= 1");
    impl_->dataset = std::move(dataset);
    impl_->options = options;
}

BatchLoader::~BatchLoader() { stop(); }

std::size_t BatchLoader::batchesPerEpoch() const { return std::size_t(impl_->batchCount()); }

void BatchLoader::startEpoch(std::int64_t epoch) {
    std::lock_guard join(impl_->joinMutex);
    impl_->stopWorkers();
    Impl& d = *impl_;
    d.order = shardOrder(epochOrder(d.dataset->size(), d.options.seed, epoch, d.options.shuffle), d.options.rank,
                         d.options.worldSize);
    {
        std::lock_guard lock(d.mutex);
        d.epoch = epoch;
        d.total = d.batchCount();
        d.claimed = d.delivered = 0;
        d.stopping = false;
        d.stopFlag = false;
        d.started = d.running = true;
    }
    for (int i = 0; i < d.options.workers; ++i) d.workers.emplace_back([&d] { d.workerLoop(); });
}

std::optional<Batch> BatchLoader::next() {
    Impl& d = *impl_;
    std::unique_lock lock(d.mutex);
    if (!d.started) throw std::logic_error("BatchLoader::next() before startEpoch()");
    if (!d.running || d.delivered >= d.total) return std::nullopt;
    if (d.options.workers == 0) {
        const std::int64_t index = d.delivered++;
        d.claimed = d.delivered;
        lock.unlock();
        try {
            return d.makeBatch(index);
        } catch (const Stopped&) {
            return std::nullopt;
        } catch (...) {
            std::lock_guard again(d.mutex);
            d.running = false;
            throw;
        }
    }
    d.batchReady.wait(lock, [&] { return d.stopping || d.ready.count(d.delivered) > 0; });
    if (d.stopping) return std::nullopt;
    auto node = d.ready.extract(d.delivered);
    ++d.delivered;
    lock.unlock();
    d.workAvailable.notify_all();
    if (node.mapped().error) {
        {
            std::lock_guard join(d.joinMutex);
            d.stopWorkers();
        }
        std::rethrow_exception(node.mapped().error);
    }
    return std::move(node.mapped().batch);
}

void BatchLoader::stop() {
    std::lock_guard join(impl_->joinMutex);
    impl_->stopWorkers();
}

}  // namespace lumen::data
