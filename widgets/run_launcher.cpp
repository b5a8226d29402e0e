#include "run_launcher.h"

#include "explain/cam_job.h"
#include "infer/torchscript_config.h"
#include "plugin/registry.h"
#include "util/atomic_file.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include "file_dialogs.h"
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QDir>
#include <QFile>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTabWidget>
#include <QTextBlock>
#include <QTimer>
#include <QVBoxLayout>

#include <climits>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

namespace lumen::widgets {
namespace {

constexpr const char* kInvalidStyle = "background-color: #fde3e4;";

std::vector<std::string> splitPath(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream in(path);
    for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
    return parts;
}

// Sets `value` at a dotted path, creating sections. yaml-cpp nodes are handles: reset()
// moves a handle, `=` assigns through it.
void setAt(YAML::Node& root, const std::string& path, const YAML::Node& value) {
    if (!root.IsDefined() || !root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
    const auto parts = splitPath(path);
    YAML::Node current;
    current.reset(root);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node next = current[parts[i]];
        if (!next.IsMap()) next = YAML::Node(YAML::NodeType::Map);
        current.reset(next);
    }
    current[parts.back()] = YAML::Clone(value);
}

void removeAt(YAML::Node& root, const std::string& path) {
    if (!root.IsDefined() || !root.IsMap()) return;
    const auto parts = splitPath(path);
    YAML::Node current;
    current.reset(root);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        YAML::Node next = current[parts[i]];
        if (!next.IsMap()) return;
        current.reset(next);
    }
    current.remove(parts.back());
}

QString issueText(const config::ConfigIssue& issue) {
    QString text;
    if (issue.line > 0) text += QObject::tr("line %1: ").arg(issue.line);
    if (!issue.path.empty()) text += QString::fromStdString(issue.path) + ": ";
    return text + QString::fromStdString(issue.message);
}

// A scalar as the user typed it: YAML decides the type (1e-4 is a number, "x" a string).
YAML::Node scalarFromText(const QString& text) {
    try {
        YAML::Node n = YAML::Load(text.trimmed().toStdString());
        if (n.IsScalar()) return n;
    } catch (const YAML::Exception&) {
    }
    return YAML::Node(text.trimmed().toStdString());
}

QString scalarText(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return {};
    if (node.IsScalar()) return QString::fromStdString(node.Scalar());
    if (node.IsSequence()) {
        QStringList items;
        for (const auto& item : node)
            items << (item.IsScalar() ? QString::fromStdString(item.Scalar())
                                      : QString::fromStdString(YAML::Dump(item)));
        return items.join(", ");
    }
    return QString::fromStdString(YAML::Dump(node));
}

QString fieldKind(config::FieldType t) {
    switch (t) {
    case config::FieldType::Bool: return QObject::tr("yes/no");
    case config::FieldType::Int: return QObject::tr("integer");
    case config::FieldType::Float: return QObject::tr("number");
    case config::FieldType::String: return QObject::tr("text");
    case config::FieldType::Choice: return QObject::tr("choice");
    case config::FieldType::StringList: return QObject::tr("list of text, comma-separated");
    case config::FieldType::FloatList: return QObject::tr("list of numbers, comma-separated");
    }
    return {};
}

// Groups: the keys every task shares, the task's own top-level keys, then one group per nested
// section (`loss_weights.full` goes to "loss_weights"), in schema order.
struct FieldGroups {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const config::Field*>> fields;
};

FieldGroups groupFields(const config::Schema& schema) {
    FieldGroups g;
    for (const auto& f : schema.fields()) {
        std::string group;
        const auto dot = f.path.find('.');
        if (dot != std::string::npos) group = f.path.substr(0, dot);
        else if (config::commonSchema().find(f.path)) group = "#common";
        else group = "#task";
        if (!g.fields.count(group) && group[0] != '#') g.order.push_back(group);
        g.fields[group].push_back(&f);
    }
    for (const char* special : {"#task", "#common"})
        if (g.fields.count(special)) g.order.insert(g.order.begin(), special);
    return g;
}

// The schema's default as text: floats with 12 digits (the schema writes 17).
QString defaultText(const config::Field& f) {
    QString text = QString::fromStdString(f.defaultYaml);
    if (f.type == config::FieldType::Float) {
        bool ok = false;
        const double d = text.toDouble(&ok);
        if (ok) text = QString::number(d, 'g', 12);
    }
    return text;
}

// The schema's default as a node (0.050000000000000003 shown as 0.05); undefined when none.
YAML::Node defaultNode(const config::Field& f) {
    YAML::Node def;
    if (f.defaultYaml.empty()) return def;
    try {
        def = YAML::Load(f.defaultYaml);
        if (f.type == config::FieldType::Float && def.IsScalar())
            def = YAML::Node(QString::number(def.as<double>(), 'g', 12).toStdString());
    } catch (const YAML::Exception&) {
    }
    return def;
}

// A list field's text as a flow sequence; other fields as a scalar, empty removing the key.
YAML::Node nodeFromText(config::FieldType type, const QString& text) {
    if (type == config::FieldType::StringList || type == config::FieldType::FloatList) {
        YAML::Node value(YAML::NodeType::Sequence);
        value.SetStyle(YAML::EmitterStyle::Flow);
        for (const QString& item : text.split(',', Qt::SkipEmptyParts)) {
            if (item.trimmed().isEmpty()) continue;
            value.push_back(type == config::FieldType::FloatList ? scalarFromText(item)
                                                                 : YAML::Node(item.trimmed().toStdString()));
        }
        return value;
    }
    if (text.trimmed().isEmpty()) return YAML::Node();  // the default applies
    return type == config::FieldType::Float ? scalarFromText(text) : YAML::Node(text.toStdString());
}

}  // namespace

struct RunLauncher::FieldEditor {
    config::Field field;
    QWidget* editor = nullptr;
    QLabel* label = nullptr;
    QLabel* message = nullptr;
    std::function<void(const YAML::Node&)> show;  // node = the value in the YAML or undefined
};

RunLauncher::RunLauncher(QWidget* parent)
    : QWidget(parent),
      taskBox_(new QComboBox),
      description_(new QLabel),
      tabs_(new QTabWidget),
      formHost_(new QWidget),
      yaml_(new QPlainTextEdit),
      yamlDebounce_(new QTimer(this)),
      issuesLabel_(new QLabel),
      runName_(new QLineEdit),
      templateBox_(new QComboBox),
      load_(new QPushButton(tr("Load config…"))),
      fromModel_(new QPushButton(tr("From TorchScript model…"))),
      save_(new QPushButton(tr("Save config…"))),
      launch_(new QPushButton(tr("Launch"))),
      processes_(new QSpinBox) {
    qRegisterMetaType<config::Config>();
    setObjectName("runLauncher");
    setMinimumWidth(400);
    taskBox_->setObjectName("launcherTask");
    yaml_->setObjectName("launcherYaml");
    issuesLabel_->setObjectName("launcherIssues");
    runName_->setObjectName("launcherRunName");
    launch_->setObjectName("launcherLaunch");
    load_->setObjectName("launcherLoad");
    fromModel_->setObjectName("launcherFromModel");
    fromModel_->setToolTip(
        tr("Bring your own model: probe a TorchScript file (torch.jit.save) and start its "
           "torchscript-task config (lumen-cli torchscript init)"));
    templateBox_->setObjectName("launcherTemplate");
    templateBox_->setToolTip(
        tr("Start from a recipe shipped with Lumen; it is copied into the workspace's "
           "configs/ folder and loaded from there"));
    save_->setObjectName("launcherSave");
    tabs_->setObjectName("launcherTabs");

    auto* layout = new QVBoxLayout(this);
    auto* top = new QFormLayout;
    top->addRow(tr("Task"), taskBox_);
    description_->setWordWrap(true);
    description_->setStyleSheet("color: palette(mid);");
    top->addRow(QString(), description_);
    runName_->setPlaceholderText(tr("optional; \"<task> train\" when empty"));
    top->addRow(tr("Run name"), runName_);
    layout->addLayout(top);

    auto* scroll = new QScrollArea;
    scroll->setObjectName("launcherForm");
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setWidget(formHost_);
    formLayout_ = new QVBoxLayout(formHost_);
    tabs_->addTab(scroll, tr("Form"));
    QFont mono("monospace");
    mono.setStyleHint(QFont::TypeWriter);
    yaml_->setFont(mono);
    yaml_->setLineWrapMode(QPlainTextEdit::NoWrap);
    tabs_->addTab(yaml_, tr("YAML"));
    layout->addWidget(tabs_, 1);

    issuesLabel_->setWordWrap(true);
    issuesLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(issuesLabel_);
    // Two rows that fit the panel at 1366x768 (one row of four clipped "From TorchScript model…"):
    // the config files, then the other starting point beside the launch.
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(templateBox_, 1);
    buttons->addWidget(load_);
    buttons->addWidget(save_);
    processes_->setObjectName("launcherProcesses");
    processes_->setRange(1, 64);
    processes_->setToolTip(
        tr("Processes on this machine: more than 1 trains data-parallel (each process takes its "
           "share of every batch; the config's threads are shared between them). The ranks run as "
           "lumen-cli processes and the run appears in the Runs panel as any other."));
    auto* processesLabel = new QLabel(tr("Processes:"));
    processesLabel->setToolTip(processes_->toolTip());
    processesLabel->setBuddy(processes_);
    layout->addLayout(buttons);
    auto* launchRow = new QHBoxLayout;
    launchRow->addWidget(fromModel_);
    launchRow->addStretch(1);
    launchRow->addWidget(processesLabel);
    launchRow->addWidget(processes_);
    launch_->setDefault(true);
    launchRow->addWidget(launch_);
    layout->addLayout(launchRow);

    yamlDebounce_->setSingleShot(true);
    yamlDebounce_->setInterval(250);
    connect(yaml_, &QPlainTextEdit::textChanged, this, [this] {
        if (!updating_) yamlDebounce_->start();
    });
    connect(yamlDebounce_, &QTimer::timeout, this, &RunLauncher::onYamlEdited);
    connect(taskBox_, &QComboBox::currentIndexChanged, this, [this](int index) {
        if (updating_ || index < 0) return;
        selectTask(taskBox_->itemData(index).toString());
    });
    connect(launch_, &QPushButton::clicked, this, &RunLauncher::launch);
    connect(load_, &QPushButton::clicked, this, &RunLauncher::chooseAndLoad);
    connect(fromModel_, &QPushButton::clicked, this, &RunLauncher::chooseTorchScript);
    connect(templateBox_, &QComboBox::activated, this, [this](int index) {
        const QString file = templateBox_->itemData(index).toString();
        templateBox_->setCurrentIndex(0);
        if (file.isEmpty()) return;
        QString error;
        if (useTemplate(file, &error).isEmpty()) QMessageBox::warning(this, tr("Template"), error);
    });
    setTemplates({});
    connect(save_, &QPushButton::clicked, this, &RunLauncher::chooseAndSave);
    revalidate();
}

RunLauncher::~RunLauncher() = default;

void RunLauncher::setRegistry(const plugin::Registry* registry) {
    registry_ = registry;
    refreshTasks();
}

void RunLauncher::refreshTasks() {
    const QString keep = currentTask();
    updating_ = true;
    taskBox_->clear();
    if (registry_)
        for (const auto& task : registry_->tasks())
            taskBox_->addItem(QString::fromStdString(task->displayName() + "  (" + task->id() + ")"),
                              QString::fromStdString(task->id()));
    updating_ = false;
    if (taskBox_->count() == 0) {
        task_.reset();
        schema_ = {};
        root_ = YAML::Node();
        buildForm();
        updating_ = true;
        yaml_->clear();
        updating_ = false;
        description_->setText(tr("No task plugins loaded."));
        revalidate();
        return;
    }
    const int index = taskBox_->findData(keep);
    if (index >= 0 && task_) {
        updating_ = true;
        taskBox_->setCurrentIndex(index);
        updating_ = false;
    } else {
        selectTask(taskBox_->itemData(0).toString());
    }
}

QStringList RunLauncher::taskIds() const {
    QStringList ids;
    for (int i = 0; i < taskBox_->count(); ++i) ids << taskBox_->itemData(i).toString();
    return ids;
}

QString RunLauncher::currentTask() const { return task_ ? QString::fromStdString(task_->id()) : QString(); }

int RunLauncher::processes() const { return processes_->value(); }
void RunLauncher::setProcesses(int n) { processes_->setValue(n); }

bool RunLauncher::selectTask(const QString& id) {
    if (!registry_) return false;
    auto task = registry_->find(id.toStdString());
    if (!task) return false;
    task_ = std::move(task);
    schema_ = task_->schema();
    updating_ = true;
    taskBox_->setCurrentIndex(taskBox_->findData(id));
    updating_ = false;
    description_->setText(QString::fromStdString(task_->description()));
    processes_->setEnabled(!task_->guiHints().inferenceOnly);
    if (task_->guiHints().inferenceOnly) processes_->setValue(1);
    buildForm();
    applyYaml(QString::fromStdString(task_->defaultConfigYaml()), true);
    return true;
}

QString RunLauncher::fieldTip(const config::Field& f) const {
    QString tip = "<b>" + QString::fromStdString(f.path) + "</b> (" + fieldKind(f.type) + ")<br>" +
                  QString::fromStdString(f.help).toHtmlEscaped() + "<br><i>" +
                  tr("expects %1").arg(QString::fromStdString(f.expectation())).toHtmlEscaped() + "</i>";
    if (!f.defaultYaml.empty() && !f.required) tip += "<br>" + tr("default: %1").arg(defaultText(f)).toHtmlEscaped();
    if (f.required) tip += "<br><b>" + tr("required") + "</b>";
    return tip;
}

// The editor widget of one field, how it shows a value (the YAML's, else the default) and
// how its edits reach the YAML.
void RunLauncher::makeEditor(FieldEditor& fe) {
    const config::Field& f = fe.field;
    const std::string path = f.path;
    const YAML::Node def = defaultNode(f);
    auto valueOr = [def](const YAML::Node& n) { return n.IsDefined() && !n.IsNull() ? n : def; };
    switch (f.type) {
    case config::FieldType::Bool: {
        auto* box = new QCheckBox;
        fe.editor = box;
        fe.show = [box, valueOr](const YAML::Node& n) {
            const YAML::Node v = valueOr(n);
            bool b = false;
            try {
                if (v.IsDefined() && v.IsScalar()) b = v.as<bool>();
            } catch (const YAML::Exception&) {
            }
            box->setChecked(b);
        };
        connect(box, &QCheckBox::toggled, this, [this, path](bool on) { onFormEdited(path, YAML::Node(on)); });
        break;
    }
    case config::FieldType::Int: {
        auto* spin = new QSpinBox;
        const double lo =
            f.min ? std::ceil(*f.min) + ((f.minExclusive && std::ceil(*f.min) == *f.min) ? 1 : 0) : double(INT_MIN);
        const double hi = f.max ? std::floor(*f.max) : double(INT_MAX);
        spin->setRange(int(std::max(lo, double(INT_MIN))), int(std::min(hi, double(INT_MAX))));
        spin->setAccelerated(true);
        fe.editor = spin;
        fe.show = [spin, valueOr](const YAML::Node& n) {
            const YAML::Node v = valueOr(n);
            try {
                if (v.IsDefined() && v.IsScalar()) spin->setValue(int(v.as<long long>()));
            } catch (const YAML::Exception&) {
            }
        };
        connect(spin, &QSpinBox::valueChanged, this,
                [this, path](int value) { onFormEdited(path, YAML::Node(value)); });
        break;
    }
    case config::FieldType::Choice: {
        auto* combo = new QComboBox;
        for (const auto& c : f.choices) combo->addItem(QString::fromStdString(c));
        fe.editor = combo;
        fe.show = [combo, valueOr](const YAML::Node& n) {
            const QString text = scalarText(valueOr(n));
            int index = combo->findText(text);
            if (index < 0 && !text.isEmpty()) {  // an invalid choice from the YAML: show it
                combo->addItem(text);
                index = combo->count() - 1;
            }
            combo->setCurrentIndex(index);
        };
        connect(combo, &QComboBox::currentTextChanged, this,
                [this, path](const QString& t) { onFormEdited(path, YAML::Node(t.toStdString())); });
        break;
    }
    case config::FieldType::Float:
    case config::FieldType::String:
    case config::FieldType::StringList:
    case config::FieldType::FloatList: {
        auto* edit = new QLineEdit;
        const auto type = f.type;
        const QString shownDefault = defaultText(f);
        fe.editor = edit;
        edit->setPlaceholderText(f.required             ? tr("required")
                                 : shownDefault == "[]" ? tr("none (comma-separated list)")
                                                        : shownDefault);
        if (path == "task") edit->setReadOnly(true);  // set by the task picker above
        fe.show = [edit, valueOr](const YAML::Node& n) {
            const QString text = scalarText(valueOr(n));
            if (edit->text() != text) edit->setText(text);
        };
        connect(edit, &QLineEdit::textEdited, this,
                [this, path, type](const QString& text) { onFormEdited(path, nodeFromText(type, text)); });
        break;
    }
    }
}

// One form row: the key's label (bold and starred when required), the editor, and under it
// the validation message of that key.
QWidget* RunLauncher::makeFieldRow(FieldEditor& fe) {
    const config::Field& f = fe.field;
    const auto dot = f.path.find('.');
    QString labelText = QString::fromStdString(dot == std::string::npos ? f.path : f.path.substr(dot + 1));
    if (f.required) labelText += " *";
    fe.label = new QLabel(labelText);
    if (f.required) {
        QFont bold = fe.label->font();
        bold.setBold(true);
        fe.label->setFont(bold);
    }
    const QString tip = fieldTip(f);
    fe.label->setToolTip(tip);
    makeEditor(fe);
    fe.editor->setObjectName(QString::fromStdString("field_" + f.path));
    fe.editor->setToolTip(tip);
    fe.message = new QLabel;
    fe.message->setObjectName(QString::fromStdString("message_" + f.path));
    fe.message->setStyleSheet("color: #c01c28;");
    fe.message->setWordWrap(true);
    fe.message->hide();
    auto* cell = new QWidget;
    auto* cellLayout = new QVBoxLayout(cell);
    cellLayout->setContentsMargins(0, 0, 0, 0);
    cellLayout->setSpacing(1);
    cellLayout->addWidget(fe.editor);
    cellLayout->addWidget(fe.message);
    return cell;
}

void RunLauncher::buildForm() {
    editors_.clear();
    while (QLayoutItem* item = formLayout_->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    const QString taskName = task_ ? QString::fromStdString(task_->displayName()) : QString();
    FieldGroups groups = groupFields(schema_);
    for (const auto& group : groups.order) {
        const QString title = group == "#common" ? tr("Training (common to every task)")
                              : group == "#task" ? tr("%1 settings").arg(taskName)
                                                 : QString::fromStdString(group);
        auto* box = new QGroupBox(title);
        box->setObjectName(QString::fromStdString("group_" + group));
        auto* form = new QFormLayout(box);
        form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        for (const config::Field* f : groups.fields[group]) {
            auto fe = std::make_unique<FieldEditor>();
            fe->field = *f;
            QWidget* cell = makeFieldRow(*fe);
            form->addRow(fe->label, cell);
            editors_.push_back(std::move(fe));
        }
        formLayout_->addWidget(box);
    }
    formLayout_->addStretch(1);
}

void RunLauncher::onFormEdited(const std::string& path, const YAML::Node& value) {
    if (updating_) return;
    if (!syntaxOk_) {
        // The YAML tab holds text that does not parse; the form cannot merge into it.
        revalidate();
        return;
    }
    if (!value.IsDefined() || value.IsNull()) removeAt(root_, path);
    else setAt(root_, path, value);
    editingPath_ = path;
    writeYamlFromRoot();
    editingPath_.clear();
}

void RunLauncher::writeYamlFromRoot() {
    YAML::Emitter out;
    out << root_;
    QString text = QString::fromUtf8(out.c_str());
    if (!text.endsWith('\n')) text += '\n';
    // Re-read the emitted text so that issue line numbers match what the YAML tab shows.
    applyYaml(text, true);
}

void RunLauncher::onYamlEdited() { applyYaml(yaml_->toPlainText(), false); }

void RunLauncher::applyYaml(const QString& text, bool rewriteEditor) {
    yamlDebounce_->stop();
    if (rewriteEditor && yaml_->toPlainText() != text) {
        updating_ = true;
        // Keep the cursor roughly where it was (the form edit does not move it).
        const int position = yaml_->textCursor().position();
        yaml_->setPlainText(text);
        QTextCursor cursor = yaml_->textCursor();
        cursor.setPosition(std::min(position, int(text.size())));
        yaml_->setTextCursor(cursor);
        updating_ = false;
    }
    issues_.clear();
    issuesByKey_.clear();
    try {
        YAML::Node parsed = config::parseYaml(text.toStdString());
        if (!parsed.IsDefined() || parsed.IsNull()) parsed = YAML::Node(YAML::NodeType::Map);
        root_ = parsed;
        syntaxOk_ = true;
    } catch (const config::ConfigError& e) {
        syntaxOk_ = false;
        for (const auto& issue : e.issues()) {
            issues_ << issueText(issue);
            issuesByKey_[issue.path].push_back(issue);
        }
    }
    // A config naming another registered task (pasted or loaded) switches the form to it.
    if (syntaxOk_ && root_.IsMap()) {
        const YAML::Node& constRoot = root_;
        const YAML::Node taskNode = constRoot["task"];
        if (taskNode && taskNode.IsScalar()) {
            const QString wanted = QString::fromStdString(taskNode.as<std::string>());
            if (wanted != currentTask() && taskIds().contains(wanted) && selectTask(wanted)) {
                setYamlText(text);
                return;
            }
        }
    }
    if (syntaxOk_) fillFormFromRoot();
    revalidate();
}

void RunLauncher::fillFormFromRoot() {
    updating_ = true;
    for (const auto& fe : editors_) {
        // Not the text field being typed in: "a," must not become "a" under the cursor.
        if (fe->field.path == editingPath_ && qobject_cast<QLineEdit*>(fe->editor)) continue;
        YAML::Node node = root_.IsMap() ? config::lookup(root_, fe->field.path) : YAML::Node();
        fe->show(node);
    }
    updating_ = false;
}

void RunLauncher::revalidate() {
    if (syntaxOk_) {
        issues_.clear();
        issuesByKey_.clear();
        if (task_) {
            auto found = config::validate(root_, schema_);
            const YAML::Node taskNode = root_.IsMap() ? config::lookup(root_, "task") : YAML::Node();
            if (taskNode.IsDefined() && taskNode.IsScalar() && taskNode.Scalar() != task_->id())
                found.push_back({"task",
                                 "this launcher is set up for " + task_->id() + "; pick the task above to change it",
                                 taskNode.Mark().line + 1});
            for (const auto& issue : found) {
                issues_ << issueText(issue);
                issuesByKey_[issue.path].push_back(issue);
            }
        } else {
            issues_ << tr("no task selected");
        }
    }
    // Per-field marks.
    for (const auto& fe : editors_) {
        const auto it = issuesByKey_.find(fe->field.path);
        const bool bad = it != issuesByKey_.end();
        fe->editor->setStyleSheet(bad ? kInvalidStyle : "");
        if (bad) {
            QStringList messages;
            for (const auto& issue : it->second) messages << QString::fromStdString(issue.message);
            fe->message->setText(messages.join("; "));
        } else {
            fe->message->clear();
        }
        fe->message->setVisible(bad);
    }
    // Lines with problems highlighted in the YAML tab.
    QList<QTextEdit::ExtraSelection> marks;
    for (const auto& [key, list] : issuesByKey_)
        for (const auto& issue : list) {
            if (issue.line <= 0) continue;
            const QTextBlock block = yaml_->document()->findBlockByNumber(issue.line - 1);
            if (!block.isValid()) continue;
            QTextEdit::ExtraSelection mark;
            mark.format.setBackground(QColor(0xfd, 0xe3, 0xe4));
            mark.format.setProperty(QTextFormat::FullWidthSelection, true);
            mark.cursor = QTextCursor(block);
            marks << mark;
        }
    yaml_->setExtraSelections(marks);
    if (issues_.isEmpty()) {
        issuesLabel_->setStyleSheet("color: #1b7f3b;");
        issuesLabel_->setText(task_ ? tr("✓ Config is valid.") : QString());
    } else {
        issuesLabel_->setStyleSheet("color: #c01c28;");
        issuesLabel_->setText((issues_.size() == 1 ? tr("1 problem:") : tr("%1 problems:").arg(issues_.size())) + "\n" +
                              issues_.join("\n"));
    }
    launch_->setEnabled(task_ && issues_.isEmpty());
    launch_->setToolTip(issues_.isEmpty() ? tr("Queue a training job with this config")
                                          : tr("Fix the problems listed first"));
    emit configChanged();
}

QString RunLauncher::yamlText() const { return yaml_->toPlainText(); }

void RunLauncher::setYamlText(const QString& text) {
    updating_ = true;
    yaml_->setPlainText(text);
    updating_ = false;
    applyYaml(text, false);
}

QStringList RunLauncher::issues() const { return issues_; }
bool RunLauncher::isValid() const { return task_ && issues_.isEmpty(); }

config::Config RunLauncher::effectiveConfig() const {
    if (!task_) throw config::ConfigError({}, {{"task", "no task selected", 0}});
    const YAML::Node parsed = config::parseYaml(yaml_->toPlainText().toStdString());
    return config::makeConfig(parsed, schema_);
}

QString RunLauncher::runName() const { return runName_->text().trimmed(); }
void RunLauncher::setRunName(const QString& name) { runName_->setText(name); }

void RunLauncher::launch() {
    if (yamlDebounce_->isActive()) onYamlEdited();  // typed just now: take it into account
    if (!isValid()) return;
    try {
        const config::Config config = effectiveConfig();
        emit launchRequested(currentTask(), config, runName());
    } catch (const std::exception& e) {
        issuesLabel_->setText(QString::fromUtf8(e.what()));
    }
}

bool RunLauncher::loadConfigFile(const QString& file, QString* error) {
    std::ifstream in(file.toStdString(), std::ios::binary);
    if (!in) {
        if (error) *error = tr("%1: cannot open the file for reading").arg(file);
        return false;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const QString text = QString::fromStdString(buffer.str());
    try {
        const YAML::Node parsed = config::parseYaml(buffer.str(), file.toStdString());
        const YAML::Node taskNode = parsed.IsMap() ? parsed["task"] : YAML::Node();
        if (taskNode.IsDefined() && taskNode.IsScalar()) {
            const QString id = QString::fromStdString(taskNode.Scalar());
            if (id != currentTask() && !selectTask(id)) {
                if (error) *error = tr("%1: task: unknown task \"%2\" (known: %3)").arg(file, id, taskIds().join(", "));
                return false;
            }
        }
    } catch (const config::ConfigError&) {
        // A syntax error is loaded anyway and shown with its line, like a typo in the tab.
    }
    setYamlText(text);
    return true;
}

bool RunLauncher::saveConfigFile(const QString& file, QString* error) const {
    try {
        util::writeFileAtomically(file.toStdString(), yaml_->toPlainText().toStdString());
        return true;
    } catch (const std::exception& e) {
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
}

void RunLauncher::setTemplates(const QStringList& files) {
    templates_ = files;
    templateBox_->clear();
    templateBox_->addItem(files.isEmpty() ? tr("No templates installed") : tr("Template…"), QString());
    for (const QString& f : files) templateBox_->addItem(QFileInfo(f).completeBaseName(), f);
    templateBox_->setEnabled(!files.isEmpty());
}

void RunLauncher::setWorkspace(const QString& folder) { workspace_ = folder; }

QString RunLauncher::useTemplate(const QString& file, QString* error) {
    QString chosen = file;
    if (!workspace_.isEmpty()) {
        const QString copy = QDir(workspace_).filePath("configs/" + QFileInfo(file).fileName());
        if (!QFileInfo::exists(copy)) {
            QFile in(file);
            if (!in.open(QIODevice::ReadOnly)) {
                if (error) *error = tr("%1: cannot be read: %2").arg(file, in.errorString());
                return {};
            }
            try {
                QDir().mkpath(QFileInfo(copy).absolutePath());
                util::writeFileAtomically(copy.toStdString(), in.readAll().toStdString());
            } catch (const std::exception& e) {
                if (error) *error = QString::fromUtf8(e.what());
                return {};
            }
        }
        chosen = copy;
    }
    return loadConfigFile(chosen, error) ? chosen : QString();
}

void RunLauncher::chooseAndLoad() {
    const QString file =
        openFileDialog(this, tr("Load config"), QString(), tr("YAML files (*.yaml *.yml);;All files (*)"));
    if (file.isEmpty()) return;
    QString error;
    if (!loadConfigFile(file, &error)) QMessageBox::warning(this, tr("Load config"), error);
}

bool RunLauncher::startFromTorchScript(const QString& model, QString* error) {
    if (!taskIds().contains("torchscript")) {
        if (error) *error = tr("the torchscript task plugin is not loaded");
        return false;
    }
    try {
        QApplication::setOverrideCursor(Qt::WaitCursor);
        const auto probe = explain::listLayers(model.toStdString());
        QApplication::restoreOverrideCursor();
        QString written = model;
        if (!workspace_.isEmpty() && !QDir(workspace_).relativeFilePath(model).startsWith(".."))
            written = QDir(workspace_).relativeFilePath(model);
        selectTask("torchscript");
        setYamlText(QString::fromStdString(infer::torchscriptConfigYaml(written.toStdString(), probe, "")));
        return true;
    } catch (const std::exception& e) {
        QApplication::restoreOverrideCursor();
        if (error) *error = QString::fromUtf8(e.what());
        return false;
    }
}

void RunLauncher::chooseTorchScript() {
    const QString file = openFileDialog(this, tr("TorchScript model"), workspace_,
                                        tr("TorchScript files (*.pt *.pth *.ts);;All files (*)"));
    if (file.isEmpty()) return;
    QString error;
    if (!startFromTorchScript(file, &error)) QMessageBox::warning(this, tr("From TorchScript model"), error);
}

void RunLauncher::chooseAndSave() {
    const QString file =
        saveFileDialog(this, tr("Save config"), currentTask() + ".yaml", tr("YAML files (*.yaml *.yml)"));
    if (file.isEmpty()) return;
    QString error;
    if (!saveConfigFile(file, &error)) QMessageBox::warning(this, tr("Save config"), error);
}

QWidget* RunLauncher::editorFor(const QString& path) const {
    for (const auto& fe : editors_)
        if (fe->field.path == path.toStdString()) return fe->editor;
    return nullptr;
}

QString RunLauncher::fieldMessage(const QString& path) const {
    for (const auto& fe : editors_)
        if (fe->field.path == path.toStdString()) return fe->message->text();
    return {};
}

}  // namespace lumen::widgets
