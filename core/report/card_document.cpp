#include "report/card_document.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace lumen::report {

Section& Section::paragraph(std::string text) {
    blocks.push_back({Block::Kind::Paragraph, std::move(text), {}, {}, {}});
    return *this;
}

Section& Section::placeholder(std::string text) {
    blocks.push_back({Block::Kind::Placeholder, std::move(text), {}, {}, {}});
    return *this;
}

Section& Section::bullets(std::vector<std::string> items) {
    blocks.push_back({Block::Kind::Bullets, {}, std::move(items), {}, {}});
    return *this;
}

Section& Section::table(Table t) {
    blocks.push_back({Block::Kind::Table, {}, {}, std::move(t), {}});
    return *this;
}

Section& Section::code(std::string text) {
    blocks.push_back({Block::Kind::Code, std::move(text), {}, {}, {}});
    return *this;
}

Section& Section::plot(Plot p) {
    blocks.push_back({Block::Kind::Plot, {}, {}, {}, std::move(p)});
    return *this;
}

Section& CardDocument::add(std::string heading) {
    sections.push_back({std::move(heading), {}});
    return sections.back();
}

const Section* CardDocument::find(const std::string& heading) const {
    for (const auto& s : sections)
        if (s.heading == heading) return &s;
    return nullptr;
}

std::vector<const Plot*> CardDocument::plots() const {
    std::vector<const Plot*> out;
    for (const auto& s : sections)
        for (const auto& b : s.blocks)
            if (b.kind == Block::Kind::Plot) out.push_back(&b.plot);
    return out;
}

std::string formatNumber(double v, int decimals) {
    if (std::isnan(v)) return "n/a";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    std::string s = buf;
    if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // -0.000
    return s;
}

namespace {

std::string markdownCell(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '|') out += "\\|";
        else if (c == '\n') out += ' ';
        else out += c;
    }
    return out;
}

void markdownTable(std::ostream& md, const Table& t) {
    md << "|";
    for (const auto& h : t.header) md << " " << markdownCell(h) << " |";
    md << "\n|";
    for (std::size_t i = 0; i < t.header.size(); ++i) md << "---|";
    md << "\n";
    for (const auto& row : t.rows) {
        md << "|";
        for (const auto& cell : row) md << " " << markdownCell(cell) << " |";
        md << "\n";
    }
    md << "\n";
}

void markdownBlock(std::ostream& md, const Block& b) {
    switch (b.kind) {
    case Block::Kind::Paragraph: md << b.text << "\n\n"; break;
    case Block::Kind::Placeholder: md << "> **[" << kPlaceholderMarker << "]** " << b.text << "\n\n"; break;
    case Block::Kind::Bullets:
        for (const auto& item : b.items) md << "- " << item << "\n";
        md << "\n";
        break;
    case Block::Kind::Table: markdownTable(md, b.table); break;
    case Block::Kind::Code:
        md << "```\n" << b.text << (b.text.empty() || b.text.back() == '\n' ? "" : "\n") << "```\n\n";
        break;
    case Block::Kind::Plot: md << "*Plot: " << b.plot.title << " (drawn in the HTML and PDF cards).*\n\n"; break;
    }
}

}  // namespace

std::string toMarkdown(const CardDocument& card) {
    std::ostringstream md;
    md << "# " << card.title << "\n\n";
    if (!card.subtitle.empty()) md << "*" << card.subtitle << "*\n\n";
    for (const auto& s : card.sections) {
        md << "## " << s.heading << "\n\n";
        for (const auto& b : s.blocks) markdownBlock(md, b);
    }
    return md.str();
}

std::string escapeHtml(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

namespace {

// Inline `code` spans and **bold** of the Markdown text, as HTML.
std::string inlineHtml(const std::string& text) {
    std::string out;
    bool code = false, bold = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '`') {
            out += code ? "</code>" : "<code>";
            code = !code;
        } else if (!code && text.compare(i, 2, "**") == 0) {
            out += bold ? "</b>" : "<b>";
            bold = !bold;
            ++i;
        } else {
            out += escapeHtml(std::string(1, text[i]));
        }
    }
    if (code) out += "</code>";
    if (bold) out += "</b>";
    return out;
}

void htmlTable(std::ostream& h, const Table& t) {
    h << "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\">\n<tr>";
    for (const auto& c : t.header) h << "<th>" << inlineHtml(c) << "</th>";
    h << "</tr>\n";
    for (const auto& row : t.rows) {
        h << "<tr>";
        for (const auto& c : row) h << "<td>" << inlineHtml(c) << "</td>";
        h << "</tr>\n";
    }
    h << "</table>\n";
}

void htmlBlock(std::ostream& h, const Block& b, const ImageSource& images, std::size_t& plotIndex) {
    switch (b.kind) {
    case Block::Kind::Paragraph: h << "<p>" << inlineHtml(b.text) << "</p>\n"; break;
    case Block::Kind::Placeholder:
        h << "<p class=\"todo\"><b>[" << kPlaceholderMarker << "]</b> " << inlineHtml(b.text) << "</p>\n";
        break;
    case Block::Kind::Bullets:
        h << "<ul>\n";
        for (const auto& item : b.items) h << "<li>" << inlineHtml(item) << "</li>\n";
        h << "</ul>\n";
        break;
    case Block::Kind::Table: htmlTable(h, b.table); break;
    case Block::Kind::Code: h << "<pre>" << escapeHtml(b.text) << "</pre>\n"; break;
    case Block::Kind::Plot: {
        const std::string src = images ? images(b.plot, plotIndex) : std::string();
        ++plotIndex;
        if (!src.empty())
            h << "<p><img src=\"" << escapeHtml(src) << "\" alt=\"" << escapeHtml(b.plot.title) << "\"></p>\n";
        else h << "<p><i>Plot: " << escapeHtml(b.plot.title) << "</i></p>\n";
        break;
    }
    }
}

constexpr const char* kStyle =
    "body{font-family:sans-serif;font-size:10pt;max-width:60em;margin:1em auto;color:#202020}"
    "h1{font-size:18pt}h2{font-size:13pt;border-bottom:1px solid #999;margin-top:1.2em}"
    "table{border-collapse:collapse;margin:0.4em 0}"
    "th,td{border:1px solid #aaa;padding:2px 6px;text-align:left;font-size:9pt}"
    "th{background:#e8e8e8}pre{background:#f4f4f4;padding:4px;font-size:8pt;white-space:pre-wrap}"
    "code{font-size:9pt}.todo{background:#fff3c4;border-left:4px solid #d9a400;padding:4px}"
    ".subtitle{color:#555}";

}  // namespace

std::string toHtml(const CardDocument& card, const ImageSource& images) {
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << escapeHtml(card.title) << "</title>\n<style>"
      << kStyle << "</style></head><body>\n";
    h << "<h1>" << escapeHtml(card.title) << "</h1>\n";
    if (!card.subtitle.empty()) h << "<p class=\"subtitle\"><i>" << inlineHtml(card.subtitle) << "</i></p>\n";
    std::size_t plotIndex = 0;
    for (const auto& s : card.sections) {
        h << "<h2>" << escapeHtml(s.heading) << "</h2>\n";
        for (const auto& b : s.blocks) htmlBlock(h, b, images, plotIndex);
    }
    h << "</body></html>\n";
    return h.str();
}

}  // namespace lumen::report
