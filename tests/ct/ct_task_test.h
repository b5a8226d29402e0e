#pragma once
// Base of the in-process ct_multilabel suites: a demo workspace with `ctVolumes` synthetic CTs
// in a temporary folder (tests/demo_task_test.h), the plugin loaded from the build, and the committed
// demo config (resources/configs/ct_multilabel_demo.yaml) with optional edits.

#include "demo_task_test.h"

#include <array>
#include <cctype>
#include <string>
#include <vector>

/// The findings the demo plants clearly and often (docs/demo-workspace.md).
inline const std::vector<std::string> kPlantedFindings = {
    "Lung nodule", "Pleural effusion", "Cardiomegaly", "Emphysema", "Consolidation", "Lung opacity", "Atelectasis"};

/// A label as the task writes it into metric keys and file names ("Lung nodule" -> "Lung_nodule").
inline std::string safeLabel(std::string s) {
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) c = '_';
    return s;
}

/// World millimetres of voxel (i, j, k) through a 4 x 4 row-major affine (io::rasAffine).
inline std::array<double, 3> worldPoint(const std::array<double, 16>& a, double i, double j, double k) {
    return {a[0] * i + a[1] * j + a[2] * k + a[3], a[4] * i + a[5] * j + a[6] * k + a[7],
            a[8] * i + a[9] * j + a[10] * k + a[11]};
}

class CtTaskTest : public DemoTaskTest {
protected:
    CtTaskTest() : DemoTaskTest("ct_multilabel", "resources/configs/ct_multilabel_demo.yaml") {}

    /// Writes the workspace (CT only) and loads the plugin; false when the folder is unusable.
    bool setUpWorkspace(int ctVolumes) {
        auto o = emptyDemo();
        o.ctVolumes = ctVolumes;
        return setUpDemo(o);
    }
};
