#include "explain/cam_job.h"

#include "jobs/job.h"
#include "util/sibling_library.h"

#include <cstdio>

namespace lumen::explain {

std::string CamJobSummary::text() const {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%zu images: %zu CAMs computed, %zu reused, %.1f s (%.3f s per CAM) -> %s", images,
                  computed, reused, seconds, secondsPerCam, cacheDir.string().c_str());
    return buf;
}

CamJobSummary generateCams(const CamJobOptions& options, jobs::JobContext& job) {
    // The work needs LibTorch: it lives in liblumen_ml (explain/cam_job_torch.cpp).
    using Fn = void (*)(const CamJobOptions*, jobs::JobContext*, CamJobSummary*);
    auto fn = reinterpret_cast<Fn>(util::siblingLibrarySymbol("liblumen_ml.so", "lumen_ml_generate_cams"));
    CamJobSummary summary;
    fn(&options, &job, &summary);
    return summary;
}

}  // namespace lumen::explain
