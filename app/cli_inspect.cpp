// lumen-cli inspect PATH [--json]: what a DICOM file/series, NIfTI, image or video holds.
#include "cli_command.h"

#include "io/media_reader.h"
#include "io/read_error.h"

#include <iostream>

namespace lumen::cli {

Command inspectCommand() {
    Command c;
    c.name = "inspect";
    c.summary = "inspect PATH [--json]: describe a DICOM file/series, NIfTI, image or video";
    c.usage = R"(Usage: lumen-cli inspect PATH [--json]

Decodes PATH (a DICOM file, a folder holding one DICOM series, a NIfTI volume, a PNG/JPEG/
BMP/TIFF image or an AVI/MP4 video) and prints what it holds: modality, rows, columns,
frames, slices, spacing, transfer syntax, photometric interpretation, window, frame time,
value range, and for a series its slice spacing, gaps and warnings.
  --json    one JSON object on stdout (keys in docs/io.md)
Exit code 2 when the file cannot be read (the reason goes to stderr).
)";
    c.flags = {"json"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() != 2) throw UsageError("inspect needs exactly one PATH");
        io::MediaFile media;
        try {
            media = io::readMedia(args.words[1]);
        } catch (const io::ReadError& e) {
            std::cerr << "lumen-cli: " << e.what() << "\n";
            return kError;
        }
        const nlohmann::json j = io::describeMedia(media);
        if (args.has("json")) {
            std::cout << j.dump(2) << "\n";
            return kOk;
        }
        for (const auto& [key, value] : j.items()) {
            if (key == "series") continue;
            std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
        }
        if (j.contains("series"))
            for (const auto& w : j["series"]["warnings"]) std::cout << "warning: " << w.get<std::string>() << "\n";
        return kOk;
    };
    return c;
}

}  // namespace lumen::cli
