// The demo's chest CT volumes (NIfTI, CT-RATE style labels, lesions) and one as a DICOM series.
#include "data/label_sets.h"
#include "demo/demo_support.h"
#include "demo/demo_dicom.h"

#include <nifti2_io.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numbers>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace lumen::demo::detail {

namespace {

// ------------------------------------------------------------------------------------------
// CT volumes (CT-RATE style labels)

constexpr int kNx = 64, kNy = 64, kNz = 48;
constexpr double kDx = 1.5, kDy = 1.5, kDz = 2.5;
// World origin of voxel (0,0,0) in RAS mm: the volume is centred on x/y; z is a table position.
constexpr double kOriginX = -(kNx - 1) * kDx / 2, kOriginY = -(kNy - 1) * kDy / 2, kOriginZ = -180.0;
constexpr int kHuMin = -1024, kHuMax = 3071;  // what 12 stored bits with intercept -1024 hold

enum CtLabel {
    kMedicalMaterial,
    kArterialCalc,
    kCtCardiomegaly,
    kPericardialEffusion,
    kCoronaryCalc,
    kHiatalHernia,
    kLymphadenopathy,
    kCtEmphysema,
    kCtAtelectasis,
    kLungNodule,
    kLungOpacity,
    kFibroticSequela,
    kPleuralEffusion,
    kMosaic,
    kPeribronchial,
    kCtConsolidation,
    kBronchiectasis,
    kSeptalThickening
};
// Prevalence per label; the first group is planted clearly, the rest are rarer and subtler.
constexpr std::array<double, 18> kCtPrevalence = {0.10, 0.30, 0.20, 0.08, 0.25, 0.06, 0.15, 0.25, 0.25,
                                                  0.40, 0.30, 0.06, 0.22, 0.06, 0.06, 0.18, 0.06, 0.06};
constexpr std::array<int, 7> kCtAlwaysCovered = {kLungNodule,      kPleuralEffusion, kCtCardiomegaly, kCtEmphysema,
                                                 kCtConsolidation, kLungOpacity,     kCtAtelectasis};

enum Tissue : std::uint8_t { kAir, kBody, kLungRight, kLungLeft, kHeart, kBone, kFluid };

struct Ellipsoid {
    double ci, cj, ck, ri, rj, rk;
    double radius(double i, double j, double k) const {
        const double a = (i - ci) / ri, b = (j - cj) / rj, c = (k - ck) / rk;
        return std::sqrt(a * a + b * b + c * c);
    }
};

struct Lesion {
    int label, i, j, k;
    double radius;
};

class CtVolume {
public:
    CtVolume() : hu_(static_cast<std::size_t>(kNx) * kNy * kNz, -1000.0f), tissue_(hu_.size(), kAir) {}
    static std::size_t index(int i, int j, int k) { return static_cast<std::size_t>(i + kNx * (j + kNy * k)); }
    float& hu(int i, int j, int k) { return hu_[index(i, j, k)]; }
    std::uint8_t& tissue(int i, int j, int k) { return tissue_[index(i, j, k)]; }
    std::vector<float>& hu() { return hu_; }
    const std::vector<std::uint8_t>& tissue() const { return tissue_; }

    // Sets voxels inside `e` that `accept` (given the tissue) to `value` (and tissue `t`, if
    // t != 255); returns how many changed.
    template <typename Accept>
    int paint(const Ellipsoid& e, float value, Accept&& accept, std::uint8_t t = 255) {
        int n = 0;
        forBox(e, [&](int i, int j, int k) {
            if (e.radius(i, j, k) > 1.0 || !accept(tissue(i, j, k), i, j, k)) return;
            hu(i, j, k) = value;
            if (t != 255) tissue(i, j, k) = t;
            ++n;
        });
        return n;
    }
    template <typename F>
    static void forBox(const Ellipsoid& e, F&& f) {
        const int ia = std::max(0, static_cast<int>(std::floor(e.ci - e.ri))),
                  ib = std::min(kNx - 1, static_cast<int>(std::ceil(e.ci + e.ri)));
        const int ja = std::max(0, static_cast<int>(std::floor(e.cj - e.rj))),
                  jb = std::min(kNy - 1, static_cast<int>(std::ceil(e.cj + e.rj)));
        const int ka = std::max(0, static_cast<int>(std::floor(e.ck - e.rk))),
                  kb = std::min(kNz - 1, static_cast<int>(std::ceil(e.ck + e.rk)));
        for (int k = ka; k <= kb; ++k)
            for (int j = ja; j <= jb; ++j)
                for (int i = ia; i <= ib; ++i) f(i, j, k);
    }

private:
    std::vector<float> hu_;
    std::vector<std::uint8_t> tissue_;
};

bool isLung(std::uint8_t t) { return t == kLungRight || t == kLungLeft; }

struct CtPlan {
    std::string name;  // ct_0001.nii.gz
    std::array<bool, 18> labels{};
};

std::vector<CtPlan> planCt(const DemoOptions& o) {
    Rng rng(streamSeed(o.seed, kCtPlan));
    std::vector<CtPlan> plans(static_cast<std::size_t>(o.ctVolumes));
    for (std::size_t v = 0; v < plans.size(); ++v) {
        plans[v].name = "ct_" + padded(static_cast<long long>(v) + 1, 4) + ".nii.gz";
        const bool normal = rng.chance(0.2);
        for (std::size_t l = 0; l < 18; ++l) plans[v].labels[l] = rng.chance(kCtPrevalence[l]) && !normal;
    }
    // Volume 1 is also the DICOM series, the one a user opens first: give it a nodule to find.
    if (!plans.empty()) plans[0].labels[kLungNodule] = true;
    for (std::size_t c = 0; c < kCtAlwaysCovered.size() && !plans.empty(); ++c) {
        const auto l = static_cast<std::size_t>(kCtAlwaysCovered[c]);
        if (std::none_of(plans.begin(), plans.end(), [&](const CtPlan& p) { return p.labels[l]; }))
            plans[(c * 5 + 1) % plans.size()].labels[l] = true;
    }
    return plans;
}

// Builds one chest CT in HU. Voxel (i, j, k) lies at RAS (x, y, z) = origin + (i, j, k) *
// spacing: i towards the patient's right, j anterior, k superior.
bool anyTissue(std::uint8_t, int, int, int) { return true; }
bool notBone(std::uint8_t t, int, int, int) { return t != kBone && t != kAir; }
bool lungOnly(std::uint8_t t, int, int, int) { return isLung(t); }

// Draws one chest CT in anatomical layers, then the planned findings, each a named step.
// The steps consume the random stream in a fixed order (the order below), so one seed always
// draws the same volume: a step added later goes last.
class CtPainter {
public:
    CtPainter(const CtPlan& plan, std::uint64_t seed, std::vector<Lesion>& lesions)
        : plan_(plan), rng_(seed), lesions_(lesions) {}

    CtVolume paint() {
        body();
        lungs();
        mosaic();
        heart();
        spineAortaTrachea();
        emphysema();
        basalFindings();
        focalOpacities();
        airwayFindings();
        mediastinum();
        calcifications();
        medicalMaterial();
        nodules();  // last, so nothing covers them
        return std::move(vol_);
    }

private:
    bool has(int label) const { return plan_.labels[static_cast<std::size_t>(label)]; }
    double jitter(double a) { return rng_.uniform(-a, a); }
    void addLesion(int label, double i, double j, double k, double r) {
        lesions_.push_back({label, static_cast<int>(std::lround(i)), static_cast<int>(std::lround(j)),
                            static_cast<int>(std::lround(k)), r});
    }
    const Ellipsoid& randomLung() { return *lungs_[static_cast<std::size_t>(rng_.integer(0, 1))]; }

    // A blob of radius r (in-plane) and rk (slices) at a random place of a random lung: within
    // ±spread of its half-axes in-plane, between kFrom and kTo of its half-height along z (the
    // random draws in this order: lung, i, j, k).
    Ellipsoid blobInLung(double spread, double kFrom, double kTo, double r, double rk) {
        const Ellipsoid& L = randomLung();
        return {std::round(L.ci + jitter(spread) * L.ri),
                std::round(L.cj + jitter(spread) * L.rj),
                std::round(L.ck + rng_.uniform(kFrom, kTo) * L.rk),
                r,
                r,
                rk};
    }

    // Body: an elliptic cylinder with a rim of subcutaneous fat.
    void body() {
        bi_ = 31.5 + jitter(0.8);
        bj_ = 31.0 + jitter(0.8);
        bri_ = 29.0 + jitter(1.0);
        brj_ = 22.0 + jitter(1.0);
        const int ribPhase = rng_.integer(0, 4);
        for (int k = 0; k < kNz; ++k)
            for (int j = 0; j < kNy; ++j)
                for (int i = 0; i < kNx; ++i) {
                    const double d = std::hypot((i - bi_) / bri_, (j - bj_) / brj_);
                    if (d > 1.0) continue;
                    vol_.tissue(i, j, k) = kBody;
                    vol_.hu(i, j, k) = d > 0.93 ? -95.0f : 40.0f;
                    // Ribs: arcs at the periphery every fifth slice pair, sparing the front.
                    if (d > 0.85 && d < 0.92 && (k + ribPhase) % 5 < 2 && j < bj_ + 0.55 * brj_) {
                        vol_.hu(i, j, k) = 650.0f;
                        vol_.tissue(i, j, k) = kBone;
                    }
                }
    }

    void lungs() {
        lungR_ = {bi_ + 12.5 + jitter(0.7), bj_ + 2.0 + jitter(0.7), 27.0 + jitter(1.0),
                  9.5 + jitter(0.5),        13.0 + jitter(0.6),      17.0 + jitter(0.8)};
        lungL_ = {bi_ - 12.0 + jitter(0.7), bj_ + 2.0 + jitter(0.7), 27.0 + jitter(1.0),
                  8.5 + jitter(0.5),        12.5 + jitter(0.6),      16.5 + jitter(0.8)};
        vol_.paint(lungR_, -830.0f, notBone, kLungRight);
        vol_.paint(lungL_, -830.0f, notBone, kLungLeft);
    }

    // Mosaic attenuation: lobules alternating denser and darker, drawn before anything else
    // in the lungs so focal lesions stay on top.
    void mosaic() {
        if (!has(kMosaic)) return;
        for (int k = 0; k < kNz; ++k)
            for (int j = 0; j < kNy; ++j)
                for (int i = 0; i < kNx; ++i)
                    if (isLung(vol_.tissue(i, j, k)) && (i / 5 + j / 5 + k / 3) % 2 == 0) vol_.hu(i, j, k) = -700.0f;
        addLesion(kMosaic, lungR_.ci, lungR_.cj, lungR_.ck, std::round(lungR_.ri));
    }

    // Heart (anterior, left of midline), optionally enlarged, optionally in fluid.
    void heart() {
        heart_ = {bi_ - 5.5 + jitter(0.6), bj_ + 8.0 + jitter(0.6), 17.0 + jitter(1.0), 9.0, 7.5, 8.0};
        Ellipsoid& h = heart_;
        if (has(kCtCardiomegaly)) h.ri *= 1.35, h.rj *= 1.3, h.rk *= 1.3, h.ci -= 1.5;
        const double fluid = has(kPericardialEffusion) ? 2.2 : 0.0;
        // Epicardial fat: on non-contrast CT it is what outlines the heart against the mediastinum.
        vol_.paint({h.ci, h.cj, h.ck, h.ri + fluid + 1.3, h.rj + fluid + 1.3, h.rk + 0.6 * fluid + 0.8}, -90.0f,
                   notBone, kBody);
        if (has(kPericardialEffusion)) {
            const Ellipsoid shell{h.ci, h.cj, h.ck, h.ri + fluid, h.rj + fluid, h.rk + 0.6 * fluid};
            vol_.paint(shell, 12.0f, notBone, kFluid);
            addLesion(kPericardialEffusion, h.ci, h.cj, h.ck, std::round(shell.ri));
        }
        vol_.paint(h, 42.0f, notBone, kHeart);
        if (has(kCtCardiomegaly)) addLesion(kCtCardiomegaly, h.ci, h.cj, h.ck, std::round(h.ri));
    }

    void spineAortaTrachea() {
        for (int k = 0; k < kNz; ++k) {
            vol_.paint({bi_, bj_ - brj_ + 4.5, static_cast<double>(k), 4.5, 4.5, 0.5}, 700.0f, anyTissue, kBone);
            vol_.paint({bi_, bj_ + brj_ - 3.0, static_cast<double>(k), 2.5, 1.5, 0.5}, 450.0f, anyTissue, kBone);
        }
        ai_ = bi_ - 4.5;
        aj_ = bj_ - brj_ + 11.0;
        for (int k = 4; k < 42; ++k)
            vol_.paint({ai_, aj_, static_cast<double>(k), 3.0, 3.0, 0.5}, 45.0f, notBone, kBody);
        for (int k = 34; k < kNz; ++k)
            vol_.paint({bi_, bj_ + 1.0, static_cast<double>(k), 2.2, 2.2, 0.5}, -990.0f, notBone, kAir);
    }

    void emphysema() {
        if (!has(kCtEmphysema)) return;
        const int n = rng_.integer(3, 6);
        for (int p = 0; p < n; ++p) {
            const Ellipsoid& L = randomLung();
            const double r = rng_.integer(2, 4);
            const double i = L.ci + jitter(0.5) * L.ri, j = L.cj + jitter(0.5) * L.rj,
                         k = L.ck + rng_.uniform(0.0, 0.55) * L.rk;
            const Ellipsoid e{std::round(i), std::round(j), std::round(k), r, r, r * kDx / kDz};
            vol_.paint(e, -985.0f, lungOnly);
            addLesion(kCtEmphysema, e.ci, e.cj, e.ck, r);
        }
    }

    // Sets the voxels `pick` chooses to `value`; one lesion at their centroid, radius of the
    // sphere of their volume.
    void regionLesion(int label, const std::function<bool(int, int, int)>& pick, float value) {
        double si = 0, sj = 0, sk = 0;
        int n = 0;
        for (int k = 0; k < kNz; ++k)
            for (int j = 0; j < kNy; ++j)
                for (int i = 0; i < kNx; ++i)
                    if (pick(i, j, k)) {
                        vol_.hu(i, j, k) = value;
                        si += i, sj += j, sk += k, ++n;
                    }
        if (n > 0) addLesion(label, si / n, sj / n, sk / n, std::round(std::cbrt(3.0 * n / (4.0 * std::numbers::pi))));
    }

    // A random side: its lung ellipsoid and tissue code.
    std::pair<const Ellipsoid*, std::uint8_t> randomSide() {
        const int side = rng_.integer(0, 1);
        return {lungs_[static_cast<std::size_t>(side)], side == 0 ? kLungRight : kLungLeft};
    }

    // Fibrotic sequela, septal thickening and pleural effusion: regions of one lung.
    void basalFindings() {
        if (has(kFibroticSequela)) {
            const auto [L, t] = randomSide();
            regionLesion(
                kFibroticSequela,
                [&](int i, int j, int k) {
                    return vol_.tissue(i, j, k) == t && L->radius(i, j, k) > 0.72 && k < L->ck &&
                           (i + 2 * j + k) % 4 == 0;
                },
                -250.0f);
        }
        if (has(kSeptalThickening)) {
            const auto [L, t] = randomSide();
            regionLesion(
                kSeptalThickening,
                [&](int i, int j, int k) {
                    return vol_.tissue(i, j, k) == t && L->radius(i, j, k) > 0.6 && k < L->ck + 4 &&
                           (i % 4 == 0 || j % 4 == 0);
                },
                -350.0f);
        }
        if (has(kPleuralEffusion)) {  // dependent (posterior) fluid layer, deepest at the base
            const auto [L, t] = randomSide();
            const double depth = rng_.uniform(3.5, 5.0);
            regionLesion(
                kPleuralEffusion,
                [&](int i, int j, int k) {
                    if (vol_.tissue(i, j, k) != t || k > L->ck + 2) return false;
                    const double thickness = depth + 0.35 * (L->ck - k);
                    if (j - (L->cj - L->rj) >= thickness) return false;
                    vol_.tissue(i, j, k) = kFluid;
                    return true;
                },
                12.0f);
        }
    }

    // Atelectasis, consolidation (with an air bronchogram) and ground-glass opacity.
    void focalOpacities() {
        if (has(kCtAtelectasis)) {  // collapsed, dense posterior-basal lung
            const Ellipsoid& L = randomLung();
            const Ellipsoid e{
                std::round(L.ci), std::round(L.cj - 0.45 * L.rj), std::round(L.ck - 0.55 * L.rk), 4.0, 3.0, 3.0};
            vol_.paint(e, 22.0f, lungOnly);
            addLesion(kCtAtelectasis, e.ci, e.cj, e.ck, e.ri);
        }
        if (has(kCtConsolidation)) {
            const Ellipsoid e = blobInLung(0.2, -0.35, 0.05, 5.0, 3.5);
            vol_.paint(e, 38.0f, lungOnly);
            vol_.paint({e.ci, e.cj, e.ck, 0.8, 0.8, e.rk * 0.8}, -900.0f, anyTissue);
            addLesion(kCtConsolidation, e.ci, e.cj, e.ck, e.ri);
        }
        if (has(kLungOpacity)) {
            const Ellipsoid e = blobInLung(0.3, -0.3, 0.3, 5.0, 3.0);
            vol_.paint(e, -480.0f, lungOnly);
            addLesion(kLungOpacity, e.ci, e.cj, e.ck, e.ri);
        }
    }

    // An airway cross-section: a thick wall around an air lumen.
    void airway(int label, double lumen, double wall, float wallHu) {
        const Ellipsoid& L = randomLung();
        const double i = std::round(L.ci + jitter(0.25) * L.ri), j = std::round(L.cj + jitter(0.25) * L.rj),
                     k = std::round(L.ck);
        vol_.paint({i, j, k, wall, wall, 5.0}, wallHu, lungOnly);
        vol_.paint({i, j, k, lumen, lumen, 5.0}, -990.0f, anyTissue);
        addLesion(label, i, j, k, std::round(wall));
    }

    void airwayFindings() {
        if (has(kPeribronchial)) airway(kPeribronchial, 1.2, 2.6, -80.0f);
        if (has(kBronchiectasis)) airway(kBronchiectasis, 2.6, 3.4, -300.0f);
    }

    void mediastinum() {
        if (has(kLymphadenopathy)) {
            const int n = rng_.integer(1, 2);
            for (int p = 0; p < n; ++p) {
                const double side = p == 0 ? 1.0 : -1.0;
                const Ellipsoid e{
                    std::round(bi_ + side * 7.0), std::round(bj_ + 2.0), std::round(29.0 + jitter(2.0)), 3.0, 3.0, 2.0};
                vol_.paint(e, 48.0f, notBone, kBody);
                addLesion(kLymphadenopathy, e.ci, e.cj, e.ck, e.ri);
            }
        }
        if (has(kHiatalHernia)) {
            const Ellipsoid e{std::round(bi_ - 1.0), std::round(aj_ + 5.0), 7.0, 4.0, 4.0, 2.5};
            vol_.paint(e, 25.0f, notBone, kBody);
            vol_.paint({e.ci, e.cj, e.ck + 1.0, 2.0, 2.0, 1.0}, -700.0f, notBone);
            addLesion(kHiatalHernia, e.ci, e.cj, e.ck, e.ri);
        }
    }

    // One calcified spot at a random angle on the ellipse (ci, cj, ri, rj) of slice k.
    void calcify(int label, double ci, double cj, double ri, double rj, double k, float value) {
        const double a = rng_.uniform(0, 2 * std::numbers::pi);
        const double i = std::round(ci + ri * std::cos(a)), j = std::round(cj + rj * std::sin(a));
        vol_.paint({i, j, k, 1.0, 1.0, 0.6}, value, anyTissue);
        addLesion(label, i, j, k, 1.0);
    }

    void calcifications() {
        if (has(kArterialCalc)) {
            const int n = rng_.integer(2, 4);
            for (int p = 0; p < n; ++p) calcify(kArterialCalc, ai_, aj_, 3.0, 3.0, rng_.integer(6, 38), 650.0f);
        }
        if (has(kCoronaryCalc)) {
            const int n = rng_.integer(2, 3);
            for (int p = 0; p < n; ++p)
                calcify(kCoronaryCalc, heart_.ci, heart_.cj + 0.4 * heart_.rj, heart_.ri, 0.6 * heart_.rj,
                        std::round(heart_.ck + rng_.uniform(-0.5, 0.5) * heart_.rk), 520.0f);
        }
    }

    // A pacemaker can in the left chest wall, its lead towards the heart.
    void medicalMaterial() {
        if (!has(kMedicalMaterial)) return;
        const double i = std::round(bi_ - 14.0), j = std::round(bj_ + brj_ - 5.0), k = 40.0;
        for (int s = 0; s <= 40; ++s) {
            const double t = s / 40.0;
            vol_.hu(static_cast<int>(std::lround(i + t * (heart_.ci - i))),
                    static_cast<int>(std::lround(j + t * (heart_.cj - j))),
                    static_cast<int>(std::lround(k + t * (heart_.ck - k)))) = 1800.0f;
        }
        vol_.paint({i, j, k, 2.0, 1.0, 1.0}, 2500.0f, anyTissue, kBone);
        addLesion(kMedicalMaterial, i, j, k, 2.0);
    }

    // Nodules in the upper half of a lung, clear of its edges (up to 30 tries each).
    void nodules() {
        if (!has(kLungNodule)) return;
        const int n = rng_.chance(0.25) ? 2 : 1;
        for (int p = 0; p < n; ++p) {
            const int side = rng_.integer(0, 1);
            const Ellipsoid& L = *lungs_[static_cast<std::size_t>(side)];
            const double r = rng_.integer(2, 3);
            Ellipsoid e{};
            for (int attempt = 0; attempt < 30; ++attempt) {
                e = {std::round(L.ci + jitter(0.4) * L.ri),
                     std::round(L.cj + jitter(0.4) * L.rj),
                     std::round(L.ck + rng_.uniform(0.1, 0.45) * L.rk),
                     r,
                     r,
                     r * kDx / kDz};
                bool clear = true;  // only aerated lung around it
                CtVolume::forBox({e.ci, e.cj, e.ck, r + 3, r + 3, e.rk + 2}, [&](int i, int j, int k) {
                    if (!isLung(vol_.tissue(i, j, k)) || vol_.hu(i, j, k) > -600.0f) clear = false;
                });
                if (clear) break;
            }
            vol_.paint(e, 55.0f, anyTissue);
            addLesion(kLungNodule, e.ci, e.cj, e.ck, r);
        }
    }

    const CtPlan& plan_;
    Rng rng_;
    std::vector<Lesion>& lesions_;
    CtVolume vol_;
    double bi_ = 0, bj_ = 0, bri_ = 0, brj_ = 0;  // body centre and radii
    double ai_ = 0, aj_ = 0;                      // descending aorta
    Ellipsoid lungR_{}, lungL_{}, heart_{};
    const std::array<const Ellipsoid*, 2> lungs_ = {&lungR_, &lungL_};
};

CtVolume renderCt(const CtPlan& plan, std::uint64_t seed, std::vector<Lesion>& lesions) {
    return CtPainter(plan, seed, lesions).paint();
}

std::vector<std::int16_t> quantiseCt(CtVolume& vol, Rng& rng) {
    auto& hu = vol.hu();
    std::vector<std::int16_t> out(hu.size());
    for (std::size_t n = 0; n < hu.size(); ++n) {
        const float sd = vol.tissue()[n] == kAir ? 6.0f : hu[n] > 1500.0f ? 0.0f : 11.0f;
        const double v = std::floor(hu[n] + sd * rng.noise() + 0.5);
        out[n] = static_cast<std::int16_t>(clampd(v, kHuMin, kHuMax));
    }
    return out;
}

void writeNifti(const fs::path& path, std::vector<std::int16_t>& voxels) {
    std::error_code ec;
    fs::remove(path, ec);  // nifti_image_write reports failure only on stderr: detect it by absence
    const std::int64_t dims[8] = {3, kNx, kNy, kNz, 1, 1, 1, 1};
    nifti_image* nim = nifti_make_new_nim(dims, NIFTI_TYPE_INT16, 0);
    if (!nim) throw std::runtime_error("demo workspace: cannot create NIfTI header for " + path.string());
    struct Free {
        nifti_image* nim;
        ~Free() {
            nim->data = nullptr;  // the voxels belong to the caller
            nifti_image_free(nim);
        }
    } guard{nim};
    if (nim->data) std::free(nim->data);
    nim->data = voxels.data();
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nim->dx = nim->pixdim[1] = kDx;
    nim->dy = nim->pixdim[2] = kDy;
    nim->dz = nim->pixdim[3] = kDz;
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    // Axis-aligned RAS: identity rotation, so the quaternion is zero and qfac is +1.
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
    nim->quatern_b = nim->quatern_c = nim->quatern_d = 0.0;
    nim->qfac = 1.0;
    nim->qoffset_x = kOriginX;
    nim->qoffset_y = kOriginY;
    nim->qoffset_z = kOriginZ;
    nim->qto_xyz = nifti_quatern_to_dmat44(0, 0, 0, kOriginX, kOriginY, kOriginZ, kDx, kDy, kDz, 1.0);
    nim->sto_xyz = nim->qto_xyz;
    std::snprintf(nim->descrip, sizeof nim->descrip, "Lumen demo CT (synthetic, HU)");
    if (nifti_set_filenames(nim, path.c_str(), 0, 1) != 0)
        throw std::runtime_error("demo workspace: bad NIfTI file name " + path.string());
    nifti_image_write(nim);
    if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) < 348)
        throw std::runtime_error("demo workspace: cannot write " + path.string());
}

// Writes volume `vol` as a standard axial CT series (ImageOrientationPatient 1\0\0\0\1\0, LPS),
// so DICOM column c / row r / slice k is NIfTI voxel (nx-1-c, ny-1-r, k).
int writeCtSeries(const DemoOptions& o, Output& out, const fs::path& relDir, int volumeIndex,
                  const std::vector<std::int16_t>& voxels) {
    out.makeDir(relDir);
    const std::string study = uid(o.seed, kUidCtStudy, volumeIndex), series = uid(o.seed, kUidCtSeries, volumeIndex);
    const std::string frame = uid(o.seed, kUidFrameOfReference, volumeIndex);
    const std::string id = "CT" + padded(volumeIndex + 1, 4);
    // LPS position of the first voxel of DICOM row 0 / column 0 (= NIfTI i, j at maximum).
    const double lpsX = -(kOriginX + (kNx - 1) * kDx), lpsY = -(kOriginY + (kNy - 1) * kDy);
    std::vector<Uint16> slice(static_cast<std::size_t>(kNx) * kNy);
    for (int k = 0; k < kNz; ++k) {
        const fs::path rel = relDir / ("IM" + padded(k + 1, 4) + ".dcm");
        const fs::path path = out.root() / rel;
        for (int r = 0; r < kNy; ++r)
            for (int c = 0; c < kNx; ++c)
                slice[static_cast<std::size_t>(r) * kNx + c] =
                    static_cast<Uint16>(voxels[CtVolume::index(kNx - 1 - c, kNy - 1 - r, k)] + 1024);
        const double z = kOriginZ + k * kDz;
        DcmFileFormat file;
        DcmDataset& ds = *file.getDataset();
        put(ds, DCM_SpecificCharacterSet, "ISO_IR 100", path);
        put(ds, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL", path);
        put(ds, DCM_SOPClassUID, UID_CTImageStorage, path);
        put(ds, DCM_SOPInstanceUID, uid(o.seed, kUidCtInstance, volumeIndex, k), path);
        put(ds, DCM_StudyDate, "20240102", path);
        put(ds, DCM_StudyTime, "093000", path);
        put(ds, DCM_AccessionNumber, id, path);
        put(ds, DCM_Modality, "CT", path);
        put(ds, DCM_Manufacturer, "Lumen demo", path);
        put(ds, DCM_StudyDescription, "Synthetic chest CT", path);
        put(ds, DCM_SeriesDescription, "Axial 2.5 mm", path);
        put(ds, DCM_PatientName, "Demo^" + id, path);
        put(ds, DCM_PatientID, id, path);
        put(ds, DCM_PatientSex, "O", path);
        put(ds, DCM_SliceThickness, shortest(kDz), path);
        put(ds, DCM_SpacingBetweenSlices, shortest(kDz), path);
        put(ds, DCM_KVP, "120", path);
        put(ds, DCM_PatientPosition, "HFS", path);
        put(ds, DCM_StudyInstanceUID, study, path);
        put(ds, DCM_SeriesInstanceUID, series, path);
        put(ds, DCM_StudyID, "1", path);
        put(ds, DCM_SeriesNumber, "1", path);
        put(ds, DCM_InstanceNumber, std::to_string(k + 1), path);
        put(ds, DCM_ImagePositionPatient, shortest(lpsX) + "\\" + shortest(lpsY) + "\\" + shortest(z), path);
        put(ds, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0", path);
        put(ds, DCM_FrameOfReferenceUID, frame, path);
        put(ds, DCM_SliceLocation, shortest(z), path);
        putU16(ds, DCM_SamplesPerPixel, 1, path);
        put(ds, DCM_PhotometricInterpretation, "MONOCHROME2", path);
        putU16(ds, DCM_Rows, kNy, path);
        putU16(ds, DCM_Columns, kNx, path);
        put(ds, DCM_PixelSpacing, shortest(kDy) + "\\" + shortest(kDx), path);
        putU16(ds, DCM_BitsAllocated, 16, path);
        putU16(ds, DCM_BitsStored, 12, path);
        putU16(ds, DCM_HighBit, 11, path);
        putU16(ds, DCM_PixelRepresentation, 0, path);
        put(ds, DCM_WindowCenter, "40", path);
        put(ds, DCM_WindowWidth, "400", path);
        put(ds, DCM_RescaleIntercept, "-1024", path);
        put(ds, DCM_RescaleSlope, "1", path);
        put(ds, DCM_RescaleType, "HU", path);
        const OFCondition c =
            ds.putAndInsertUint16Array(DCM_PixelData, slice.data(), static_cast<unsigned long>(slice.size()));
        if (c.bad())
            throw std::runtime_error("demo workspace: cannot set pixel data in " + path.string() + ": " + c.text());
        saveDicom(file, path);
        out.record(rel);
    }
    return kNz;
}

}  // namespace

int writeCt(const DemoOptions& o, Output& out, double p0, double p1) {
    out.progress(p0, "CT volumes: planning");
    const auto plans = planCt(o);
    const fs::path base = "ct";
    out.makeDir(base / "volumes");
    std::string labels = "VolumeName";
    for (const auto& l : data::ctRateLabels()) labels += "," + l;
    labels += "\n";
    std::string lesionCsv = "VolumeName,label,i,j,k,radius_vox\n";
    const int n = static_cast<int>(plans.size());
    // Volumes in parallel (each has its own random streams, so the files do not depend on the
    // threads); the CSV rows afterwards, in order.
    std::vector<std::vector<Lesion>> lesionsOf(plans.size());
    int dicomSlices = 0;
    parallelFor(
        n, out,
        [&](int v) {
            const auto& plan = plans[static_cast<std::size_t>(v)];
            auto& lesions = lesionsOf[static_cast<std::size_t>(v)];
            CtVolume vol = renderCt(plan, streamSeed(o.seed, kCtVoxels, static_cast<std::uint64_t>(v)), lesions);
            Rng noise(streamSeed(o.seed, kCtVoxels, 1000000ull + static_cast<std::uint64_t>(v)));
            auto voxels = quantiseCt(vol, noise);
            const fs::path rel = base / "volumes" / plan.name;
            writeNifti(out.root() / rel, voxels);
            out.record(rel);
            if (v == 0) dicomSlices = writeCtSeries(o, out, base / "dicom" / "ct_0001", v, voxels);
        },
        [&](int done) {
            out.progress(p0 + (p1 - p0) * done / std::max(1, n),
                         "CT volumes: " + std::to_string(done) + "/" + std::to_string(n));
        });
    for (int v = 0; v < n; ++v) {
        const auto& plan = plans[static_cast<std::size_t>(v)];
        labels += plan.name;
        for (bool b : plan.labels) labels += b ? ",1" : ",0";
        labels += "\n";
        for (const auto& l : lesionsOf[static_cast<std::size_t>(v)])
            lesionCsv += plan.name + "," + data::ctRateLabels()[static_cast<std::size_t>(l.label)] + "," +
                         std::to_string(l.i) + "," + std::to_string(l.j) + "," + std::to_string(l.k) + "," +
                         shortest(l.radius) + "\n";
    }
    out.writeText(base / "labels.csv", labels);
    out.writeText(base / "lesions.csv", lesionCsv);
    return dicomSlices;
}

}  // namespace lumen::demo::detail
