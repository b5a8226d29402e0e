#include "angio_data.h"

#include "config/config.h"
#include "io/dicom_reader.h"
#include "io/media_reader.h"
#include "jobs/job.h"
#include "util/parallel.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>

namespace lumen::angio {

namespace {

/// (n, H, W) -> (n, R, R): area averaging when shrinking (no aliasing of thin vessels),
/// bilinear when growing.
torch::Tensor resizeFrames(const torch::Tensor& frames, std::int64_t r) {
    if (frames.size(1) == r && frames.size(2) == r) return frames.contiguous();
    namespace F = torch::nn::functional;
    auto x = frames.unsqueeze(1);
    const bool shrink = frames.size(1) >= r && frames.size(2) >= r;
    auto options = F::InterpolateFuncOptions().size(std::vector<std::int64_t>{r, r});
    options = shrink ? options.mode(torch::kArea) : options.mode(torch::kBilinear).align_corners(false);
    return F::interpolate(x, options).squeeze(1).contiguous();
}

/// (k, H, W) grey float frames of a stored-first read, in memory of their own (the volume may
/// go): the frames `only` names (all when undefined), straight from 8-bit stored samples when
/// there is no rescale (the usual cine), else through io::ensureValues; colour is the mean of
/// its samples.
torch::Tensor greyFrames(io::ImageVolume& v, const torch::Tensor& only = {}) {
    const std::int64_t n = std::int64_t(v.time) * v.depth, h = v.rows, w = v.columns, s = v.samples;
    const auto pick = [&](const torch::Tensor& all) { return only.defined() ? all.index_select(0, only) : all; };
    torch::Tensor t;
    if (v.values.empty() && v.storedType == io::StoredType::U8 && !io::hasRescale(v.meta) &&
        v.stored.size() == v.elementCount()) {
        t = pick(torch::from_blob(v.stored.data(), {n, h, w, s}, torch::kUInt8)).to(torch::kFloat);
    } else {
        const auto values = torch::from_blob(io::ensureValues(v).data(), {n, h, w, s}, torch::kFloat);
        t = only.defined() ? pick(values) : values.clone();
    }
    // No copy: t owns exactly these values (a one-sample select spans its whole storage), and a
    // resize makes its own. Kept frames are then not interleaved with freed temporaries, which
    // the process's malloc settings (util/allocator.h) would keep: twice the frames' size before.
    return s == 1 ? t.select(3, 0) : t.mean(3);
}

/// A stored-first read: grey DICOM straight into its stored samples; with `onlyFrames`, a
/// compressed cine decodes only those frames (io::DicomReadOptions::onlyFrames).
io::MediaFile readStoredFirst(const std::filesystem::path& file, std::vector<std::int64_t> onlyFrames = {}) {
    io::DicomReadOptions storedFirst;
    storedFirst.values = io::PixelValues::StoredFirst;
    storedFirst.onlyFrames = std::move(onlyFrames);
    return io::readMedia(file, storedFirst);
}

/// `sums` (may be null) gathers the grey values' statistics; without `keepFrames` only the
/// frame count is taken (data.cache none's first reading).
LoadedVideo readVideoFile(const std::filesystem::path& file, std::int64_t resolution, data::PixelSums* sums,
                          bool keepFrames) {
    auto media = readStoredFirst(file);
    auto& v = media.volume;
    const std::int64_t n = std::int64_t(v.time) * v.depth;
    if (n < 1 || v.rows < 1 || v.columns < 1) throw std::runtime_error(file.string() + ": no frames");
    if (sums) sums->add(v);
    LoadedVideo out;
    out.frameCount = n;
    out.frameTimeMs = v.meta.frameTimeMs.value_or(0.0);
    if (keepFrames) out.frames = resizeFrames(greyFrames(v), resolution);
    return out;
}

/// A streamed video's clip for one batch: (F, R, R), the frames `clip` names in its order,
/// read or decoded alone where the reader can (grey native, JPEG, RLE), converted and resized.
/// A frame's resize does not depend on the others, so these are the kept frames' values. A
/// file whose frame count changed since the run began is an error naming it.
torch::Tensor readClip(const LoadedVideo& video, std::int64_t resolution, const std::vector<std::int64_t>& clip) {
    auto used = clip;
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    auto media = readStoredFirst(video.file, std::move(used));
    auto& v = media.volume;
    const std::int64_t n = std::int64_t(v.time) * v.depth;
    if (n != video.frameCount)
        throw std::runtime_error(video.file.string() + ": now has " + std::to_string(n) + " frames, " +
                                 std::to_string(video.frameCount) + " when the run began");
    return resizeFrames(greyFrames(v, torch::tensor(clip, torch::kLong)), resolution);
}

}  // namespace

ClipOptions ClipOptions::fromConfig(const config::Config& c) {
    ClipOptions o;
    o.frames = c.get<std::int64_t>("data.frames");
    o.stride = c.get<std::int64_t>("data.stride");
    o.resolution = c.get<std::int64_t>("data.resolution");
    o.maxViews = c.get<std::int64_t>("data.max_views");
    o.channels = c.get<std::int64_t>("model.in_channels");
    o.mean = c.get<double>("data.mean");
    o.std = c.get<double>("data.std");
    o.viewDropout = c.get<double>("data.view_dropout");
    o.stream = c.get<std::string>("data.cache") == "none";
    o.workers = std::max(1, c.get<int>("num_workers"));
    return o;
}

std::vector<LoadedStudy> loadStudies(const data::AngioManifest& manifest,
                                     const std::vector<const data::AngioStudy*>& studies, const ClipOptions& o,
                                     jobs::JobContext& job, const std::string& what, data::PixelSums* sums) {
    struct Item {
        std::size_t study, video;
    };
    std::vector<Item> items;
    std::vector<LoadedStudy> out(studies.size());
    for (std::size_t s = 0; s < studies.size(); ++s) {
        out[s].studyId = studies[s]->studyId;
        out[s].patientId = studies[s]->patientId;
        out[s].targets = torch::tensor(studies[s]->labels, torch::kDouble).to(torch::kFloat);
        out[s].videos.resize(studies[s]->videos.size());
        for (std::size_t v = 0; v < studies[s]->videos.size(); ++v) items.push_back({s, v});
    }
    std::vector<std::string> errors(items.size());
    std::vector<data::PixelSums> perItem(items.size(), data::PixelSums(1, true));
    util::ParallelOptions po;
    po.stopRequested = [&] { return job.isCancelled(); };
    po.progress = [&](std::size_t done) {
        job.progress(double(done) / double(std::max<std::size_t>(1, items.size())),
                     "reading " + what + " videos " + std::to_string(done) + "/" + std::to_string(items.size()));
    };
    const unsigned threads = static_cast<unsigned>(o.workers);
    const auto t0 = std::chrono::steady_clock::now();
    if (threads > 1) io::setDicomDecodeThreads(1);  // the files run in parallel instead of their frames
    util::parallelFor(
        items.size(), threads,
        [&](std::size_t i) {
            const auto& video = studies[items[i].study]->videos[items[i].video];
            try {
                // Streamed: decoded again by makeBatch.
                auto loaded = readVideoFile(manifest.resolve(video), o.resolution, &perItem[i], !o.stream);
                loaded.path = video.path;
                loaded.file = manifest.resolve(video);
                loaded.view = video.view;
                out[items[i].study].videos[items[i].video] = std::move(loaded);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        },
        po);
    if (threads > 1) io::setDicomDecodeThreads(0);
    job.throwIfCancelled();
    for (std::size_t i = 0; i < items.size(); ++i)
        if (!errors[i].empty()) throw std::runtime_error("study " + out[items[i].study].studyId + ": " + errors[i]);
    if (sums)
        for (const auto& m : perItem) sums->add(m);  // fixed (item) order
    if (!what.empty()) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        char rate[96];
        const char* when = what == "inference" ? "first batch" : "first epoch";
        if (o.stream)
            std::snprintf(rate, sizeof rate,
                          " in %.2f s (%.0f videos/s; data.cache none: decoded again for every batch)", seconds,
                          double(items.size()) / std::max(seconds, 1e-9));
        else
            std::snprintf(rate, sizeof rate, " in %.2f s (%.0f videos/s, decoded once before the %s)", seconds,
                          double(items.size()) / std::max(seconds, 1e-9), when);
        job.info("loaded " + std::to_string(studies.size()) + " " + what + " studies (" + std::to_string(items.size()) +
                 " videos)" + rate);
    }
    return out;
}

std::int64_t centredStart(std::int64_t available, const ClipOptions& o) {
    const std::int64_t span = (o.frames - 1) * o.stride + 1;
    return std::max<std::int64_t>(0, (available - span) / 2);
}

std::vector<std::int64_t> clipIndices(std::int64_t available, const ClipOptions& o, std::int64_t start) {
    std::vector<std::int64_t> idx;
    for (std::int64_t k = 0; k < o.frames; ++k) idx.push_back(std::min(available - 1, start + k * o.stride));
    return idx;
}

namespace {

/// Which video of a study fills each slot, and the clip's first frame: drawn in the order the
/// batch has always drawn them (view shuffle, dropout, then one start per slot).
struct SlotPlan {
    std::vector<std::size_t> views;
    std::vector<std::int64_t> starts;
};

SlotPlan planSlots(const LoadedStudy& study, std::size_t studyIndex, const ClipOptions& o, std::int64_t rngSeed) {
    SlotPlan p;
    auto& views = p.views;
    views.resize(study.videos.size());
    for (std::size_t v = 0; v < views.size(); ++v) views[v] = v;
    std::mt19937_64 rng(rngSeed < 0 ? 0 : static_cast<std::uint64_t>(rngSeed) * 1000003ULL + studyIndex);
    if (rngSeed >= 0) {
        for (std::size_t k = views.size(); k > 1; --k) std::swap(views[k - 1], views[rng() % k]);
        if (o.viewDropout > 0 && views.size() > 1) {
            std::vector<std::size_t> kept;
            for (auto v : views)
                if (std::uniform_real_distribution<double>(0, 1)(rng) >= o.viewDropout) kept.push_back(v);
            if (kept.empty()) kept.push_back(views.front());
            views = kept;
        }
    }
    if (static_cast<std::int64_t>(views.size()) > o.maxViews) views.resize(std::size_t(o.maxViews));
    const std::int64_t span = (o.frames - 1) * o.stride + 1;
    for (auto v : views) {
        const std::int64_t n = study.videos[v].frameCount;
        p.starts.push_back(
            rngSeed < 0 ? centredStart(n, o)
                        : static_cast<std::int64_t>(rng() % std::uint64_t(std::max<std::int64_t>(1, n - span + 1))));
    }
    return p;
}

/// The clip ((F, R, R), in clip order) of every streamed video the batch uses, decoded on `o.workers` threads;
/// errors name the study and the file.
std::map<const LoadedVideo*, torch::Tensor> decodeStreamed(const std::vector<LoadedStudy>& studies,
                                                           const std::vector<std::size_t>& index,
                                                           const std::vector<SlotPlan>& plans, const ClipOptions& o) {
    struct Wanted {
        const LoadedVideo* video;
        const std::string* studyId;
        std::vector<std::int64_t> frames;  ///< its clip's
    };
    std::vector<Wanted> wanted;
    for (std::size_t i = 0; i < index.size(); ++i)
        for (std::size_t slot = 0; slot < plans[i].views.size(); ++slot) {
            const auto& video = studies[index[i]].videos[plans[i].views[slot]];
            if (!video.frames.defined())
                wanted.push_back(
                    {&video, &studies[index[i]].studyId, clipIndices(video.frameCount, o, plans[i].starts[slot])});
        }
    std::vector<torch::Tensor> frames(wanted.size());
    std::vector<std::string> errors(wanted.size());
    const unsigned threads = static_cast<unsigned>(std::min<std::size_t>(std::size_t(o.workers), wanted.size()));
    if (threads > 1) io::setDicomDecodeThreads(1);
    util::parallelFor(wanted.size(), std::max(1u, threads), [&](std::size_t k) {
        try {
            frames[k] = readClip(*wanted[k].video, o.resolution, wanted[k].frames);
        } catch (const std::exception& e) {
            errors[k] = e.what();
        }
    });
    if (threads > 1) io::setDicomDecodeThreads(0);
    std::map<const LoadedVideo*, torch::Tensor> out;
    for (std::size_t k = 0; k < wanted.size(); ++k) {
        if (!errors[k].empty()) throw std::runtime_error("study " + *wanted[k].studyId + ": " + errors[k]);
        out[wanted[k].video] = frames[k];
    }
    return out;
}

}  // namespace

StudyBatch makeBatch(const std::vector<LoadedStudy>& studies, const std::vector<std::size_t>& index,
                     const ClipOptions& o, std::int64_t rngSeed) {
    const auto b = static_cast<std::int64_t>(index.size());
    std::vector<SlotPlan> plans;
    for (auto i : index) plans.push_back(planSlots(studies[i], i, o, rngSeed));
    const auto streamed = decodeStreamed(studies, index, plans, o);
    StudyBatch batch;
    batch.videos = torch::zeros({b, o.maxViews, o.channels, o.frames, o.resolution, o.resolution});
    batch.mask = torch::zeros({b, o.maxViews}, torch::kBool);
    std::vector<torch::Tensor> targets;
    for (std::int64_t i = 0; i < b; ++i) {
        const auto& study = studies[index[std::size_t(i)]];
        const auto& plan = plans[std::size_t(i)];
        targets.push_back(study.targets);
        for (std::size_t slot = 0; slot < plan.views.size(); ++slot) {
            const auto& video = study.videos[plan.views[slot]];
            const auto frames =
                video.frames.defined()
                    ? video.frames.index_select(
                          0, torch::tensor(clipIndices(video.frameCount, o, plan.starts[slot]), torch::kLong))
                    : streamed.at(&video);          // decoded as the clip
            auto clip = (frames - o.mean) / o.std;  // (F, R, R)
            batch.videos[i][std::int64_t(slot)].copy_(clip.unsqueeze(0).expand({o.channels, -1, -1, -1}));
            batch.mask[i][std::int64_t(slot)] = true;
        }
        batch.views.push_back(plan.views);
    }
    batch.targets = torch::stack(targets);
    return batch;
}

StudyBatch BatchReadAhead::take(const std::vector<std::size_t>& index, std::int64_t rngSeed,
                                const std::vector<std::size_t>& next) {
    StudyBatch batch;
    if (ahead_.valid() && aheadIndex_ == index && aheadSeed_ == rngSeed) {
        batch = ahead_.get();
    } else {
        drop();
        batch = makeBatch(studies_, index, o_, rngSeed);
    }
    if (enabled_ && !next.empty()) {
        aheadIndex_ = next;
        aheadSeed_ = rngSeed;
        ahead_ =
            std::async(std::launch::async, [this, next, rngSeed] { return makeBatch(studies_, next, o_, rngSeed); });
    }
    return batch;
}

void BatchReadAhead::drop() {
    if (!ahead_.valid()) return;
    ahead_.wait();
    ahead_ = std::future<StudyBatch>();  // an error of a batch nobody takes is not one
}

}  // namespace lumen::angio
