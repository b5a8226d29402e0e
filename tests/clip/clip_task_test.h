#pragma once
// Base of the in-process clip_contrastive suites (tests/demo_task_test.h): a demo workspace of
// chest X-rays with their reports and vocabulary, the plugin loaded from the build, the committed
// demo config (resources/configs/clip_contrastive_demo.yaml) with optional edits.

#include "demo_task_test.h"

class ClipTaskTest : public DemoTaskTest {
protected:
    ClipTaskTest() : DemoTaskTest("clip_contrastive", "resources/configs/clip_contrastive_demo.yaml") {}

    /// Writes the workspace (chest X-rays only) and loads the plugin; false when the folder is unusable.
    bool setUpWorkspace(int chestImages) {
        auto o = emptyDemo();
        o.chestImages = chestImages;
        return setUpDemo(o);
    }
};
