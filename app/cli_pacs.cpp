// lumen-cli pacs echo|find|get NODE ...: talk to a PACS (C-ECHO, C-FIND, C-GET). NODE is
// AE@host:port or a name from the workspace's pacs_nodes.yaml (docs/pacs.md).
#include "cli_command.h"
#include "cli_progress.h"

#include "net/pacs_client.h"
#include "net/pacs_nodes.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace lumen::cli {
namespace {

net::PacsNode nodeFrom(const Args& args, const std::string& text) {
    std::vector<net::NamedPacsNode> known;
    if (const auto ws = args.value("workspace")) known = net::loadPacsNodes(*ws);
    net::PacsNode node;
    try {
        node = net::resolvePacsNode(text, known);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if (const auto calling = args.value("calling-ae")) node.callingAeTitle = *calling;
    if (const auto timeout = args.integer("timeout")) node.timeoutSeconds = int(*timeout);
    const auto problems = net::validateNode(node);
    if (!problems.empty()) throw UsageError(node.address() + ": " + problems.front());
    return node;
}

nlohmann::json toJson(const net::StudyRecord& s) {
    return {{"study_instance_uid", s.studyInstanceUid},
            {"patient_id", s.patientId},
            {"patient_name", s.patientName},
            {"study_date", s.studyDate},
            {"study_time", s.studyTime},
            {"description", s.studyDescription},
            {"accession_number", s.accessionNumber},
            {"modalities", s.modalities},
            {"series", s.seriesCount},
            {"instances", s.instanceCount}};
}

nlohmann::json toJson(const net::SeriesRecord& s) {
    return {{"series_instance_uid", s.seriesInstanceUid},
            {"study_instance_uid", s.studyInstanceUid},
            {"modality", s.modality},
            {"series_number", s.seriesNumber},
            {"description", s.seriesDescription},
            {"instances", s.instanceCount}};
}

int echoNode(const Args& args) {
    if (args.words.size() != 3) throw UsageError("pacs echo needs exactly one NODE");
    const auto node = nodeFrom(args, args.words[2]);
    const auto r = net::echo(node);
    std::printf("C-ECHO %s: ok (%.1f ms)\n", node.address().c_str(), r.milliseconds);
    return kOk;
}

int findStudies(const Args& args) {
    if (args.words.size() != 3) throw UsageError("pacs find needs exactly one NODE");
    const auto node = nodeFrom(args, args.words[2]);
    const bool json = args.has("json");
    if (const auto study = args.value("series")) {
        const auto series = net::findSeries(node, *study);
        if (json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& s : series) out.push_back(toJson(s));
            std::cout << out.dump(2) << "\n";
        } else {
            for (const auto& s : series)
                std::printf("%-4s %-4s %-32s %5d  %s\n", s.seriesNumber.c_str(), s.modality.c_str(),
                            s.seriesDescription.c_str(), s.instanceCount, s.seriesInstanceUid.c_str());
            std::fprintf(stderr, "%zu series\n", series.size());
        }
        return series.empty() ? kCheckFailed : kOk;
    }
    net::StudyQuery q;
    q.patientId = args.value("patient-id").value_or("");
    q.patientName = args.value("patient-name").value_or("");
    q.modality = args.value("modality").value_or("");
    q.accessionNumber = args.value("accession").value_or("");
    if (const auto date = args.value("date")) {
        try {
            net::setDateRange(q, *date);
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("--date: ") + e.what());
        }
    }
    const auto studies = net::findStudies(node, q);
    if (json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : studies) out.push_back(toJson(s));
        std::cout << out.dump(2) << "\n";
    } else {
        for (const auto& s : studies)
            std::printf("%-8s %-12s %-24s %-6s %4d  %-28s %s\n", s.studyDate.c_str(), s.patientId.c_str(),
                        s.patientName.c_str(), s.modalities.c_str(), s.instanceCount, s.studyDescription.c_str(),
                        s.studyInstanceUid.c_str());
        std::fprintf(stderr, "%zu studies\n", studies.size());
    }
    return studies.empty() ? kCheckFailed : kOk;
}

int getStudy(const Args& args) {
    if (args.words.size() != 4) throw UsageError("pacs get needs NODE and STUDY_UID");
    const auto workspace = args.value("workspace");
    const auto into = args.value("into");
    if (!workspace && !into) throw UsageError("pacs get needs --workspace DIR (or --into DIR)");
    const auto node = nodeFrom(args, args.words[2]);
    net::RetrieveRequest request{args.words[3], args.value("series").value_or("")};
    if (!net::isValidUid(request.studyInstanceUid))
        throw UsageError("\"" + request.studyInstanceUid + "\" is not a study instance UID");
    const std::filesystem::path destination =
        into ? std::filesystem::path(*into) : std::filesystem::path(*workspace) / "pacs";
    const auto movePort = args.integer("move-port");
    if (movePort && (*movePort < 1 || *movePort > 65535)) throw UsageError("--move-port must be in 1..65535");
    net::RetrieveResult result;
    const std::string verb = movePort ? "C-MOVE " : "C-GET ";
    const auto info = runWithProgress("pacs", verb + request.studyInstanceUid, [&](jobs::JobContext& job) {
        const auto progress = [&](const net::RetrieveProgress& p) {
            const double f = p.fraction();
            job.progress(f < 0 ? 0.0 : f, std::to_string(p.received) + " instances received");
            return !job.isCancelled();
        };
        result = movePort ? net::retrieveByMove(node, request, int(*movePort), destination, progress)
                          : net::retrieve(node, request, destination, progress);
        return std::to_string(result.received) + " instances";
    });
    if (info.state == jobs::JobState::Cancelled) {
        std::cerr << "lumen-cli: cancelled; complete files already received stay in " << destination.string() << "\n";
        return kError;
    }
    if (info.state != jobs::JobState::Finished) {
        std::cerr << "lumen-cli: error: " << info.outcome << "\n";
        return kError;
    }
    std::printf("%d instances into %s\n", result.received, (destination / request.studyInstanceUid).string().c_str());
    if (result.failed > 0) {
        std::fprintf(stderr, "lumen-cli: %d sub-operations failed on the PACS\n", result.failed);
        return kCheckFailed;
    }
    return result.received > 0 ? kOk : kCheckFailed;
}

}  // namespace

Command pacsCommand() {
    Command c;
    c.name = "pacs";
    c.summary = "pacs echo|find|get NODE ...: query and retrieve from a PACS (DICOM network)";
    c.usage = R"(Usage: lumen-cli pacs echo NODE
       lumen-cli pacs find NODE [--patient-id ID] [--patient-name NAME] [--date A-B]
                               [--modality M] [--accession N] [--series STUDY_UID] [--json]
       lumen-cli pacs get NODE STUDY_UID [--series SERIES_UID] [--move-port PORT] --workspace DIR

NODE is AE@host:port (port default 104), or the name of a node in the workspace's
pacs_nodes.yaml (then give --workspace DIR). docs/pacs.md says how to configure nodes.
  echo              C-ECHO: is the node there and does it accept us?
  find              study-level C-FIND (names may use * and ?; --date YYYYMMDD,
                    YYYYMMDD-YYYYMMDD, YYYYMMDD- or -YYYYMMDD); --series STUDY_UID lists
                    that study's series instead
  get               C-GET the study (or --series) into DIR/pacs/<study>/<series>/<sop>.dcm
                    (--into DIR stores under DIR instead of the workspace); progress on
                    stderr, Ctrl-C cancels
  --move-port PORT  get: use C-MOVE instead of C-GET, receiving on PORT as our AE title
                    (the PACS must know our AE with this host and port)
  --calling-ae AE   our AE title (default LUMEN, or the node's calling_ae_title)
  --timeout S       connect/association/message timeout in seconds (default 30)
  --json            find: JSON on stdout
Exit codes: 0 ok, 1 nothing found / nothing retrieved / sub-operations failed,
2 error (node unreachable, association rejected, refused query) with the reason on stderr.
)";
    c.valueOptions = {"workspace", "patient-id", "patient-name", "date", "modality", "accession",
                      "series",    "calling-ae", "timeout",      "into", "move-port"};
    c.flags = {"json"};
    c.run = [](const Args& args, const plugin::Registry&) {
        if (args.words.size() < 2) throw UsageError("pacs needs a subcommand: echo, find or get");
        const std::string sub = args.words[1];
        if (sub == "echo") return echoNode(args);
        if (sub == "find") return findStudies(args);
        if (sub == "get") return getStudy(args);
        throw UsageError("unknown pacs subcommand \"" + sub + "\" (echo, find, get)");
    };
    return c;
}

}  // namespace lumen::cli
