#pragma once
// The Run launcher: pick a task from the registry, edit its config in a form generated from
// the task's schema or as YAML (the two kept in sync both ways), see every problem
// config::validate finds (key, line, message) before launching, load and save YAML files,
// and launch: the launcher emits launchRequested with the validated effective config; the
// main window turns it into a job running plugin::runTask.

#include "config/config.h"

#include <QMetaType>
#include <QString>
#include <QWidget>

#include <map>
#include <memory>
#include <string>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTimer;
class QVBoxLayout;

namespace lumen::plugin {
class Registry;
class Task;
}  // namespace lumen::plugin

namespace lumen::widgets {

class RunLauncher : public QWidget {
    Q_OBJECT
public:
    explicit RunLauncher(QWidget* parent = nullptr);
    ~RunLauncher() override;

    /// The registry to offer tasks from (not owned). Call refreshTasks() after plugins load.
    void setRegistry(const plugin::Registry* registry);
    /// Re-reads the task list; keeps the current task when it is still there.
    void refreshTasks();

    QStringList taskIds() const;
    QString currentTask() const;
    /// Selects a task and starts from its default config; false when it is not registered.
    bool selectTask(const QString& id);

    /// The YAML text (what the YAML tab shows).
    QString yamlText() const;
    /// Replaces the YAML text and re-reads the form from it at once (no debounce).
    void setYamlText(const QString& text);
    /// The problems with the current config, formatted "line N: key: message" (empty: valid).
    QStringList issues() const;
    bool isValid() const;
    /// The effective config (defaults filled); throws config::ConfigError when invalid.
    config::Config effectiveConfig() const;

    QString runName() const;
    void setRunName(const QString& name);

    /// "Processes on this machine": 1 trains in the app; N > 1 runs N data-parallel ranks
    /// (lumen-cli train --nproc N, docs/distributed.md). Disabled for inference-only tasks.
    int processes() const;
    void setProcesses(int n);

    /// "From TorchScript model…": probes `model` (explain::listLayers) and starts the torchscript
    /// task's config from what it found (infer/torchscript_config.h); the model path is written
    /// relative to the workspace when it lies inside. False with `error` naming the file.
    bool startFromTorchScript(const QString& model, QString* error = nullptr);

    /// Loads a YAML config file (switching task when its `task:` key names another one).
    /// False with `error` naming the file on a read failure or an unknown task.
    bool loadConfigFile(const QString& file, QString* error = nullptr);
    /// Writes the YAML text to `file` (atomically). False with `error` naming the file.
    bool saveConfigFile(const QString& file, QString* error = nullptr) const;

    /// The config templates offered in the "Template" box (YAML files shipped with Lumen,
    /// one per task recipe) and the workspace they are copied into.
    void setTemplates(const QStringList& files);
    QStringList templates() const { return templates_; }
    void setWorkspace(const QString& folder);
    /// Copies the template into <workspace>/configs/ (an existing copy there is used, never
    /// overwritten: it may hold the user's edits) and loads that copy. Without a workspace the
    /// template is loaded as it is. Returns the file loaded ("" with `error` on failure).
    QString useTemplate(const QString& file, QString* error = nullptr);

    /// The form's editor widget for a key path (null if none): for tests and focus.
    QWidget* editorFor(const QString& path) const;
    /// The red message shown under a key's editor ("" when the key is fine).
    QString fieldMessage(const QString& path) const;
    QPushButton* launchButton() const { return launch_; }
    QPlainTextEdit* yamlEditor() const { return yaml_; }
    QTabWidget* tabs() const { return tabs_; }

public slots:
    /// Validates and emits launchRequested; does nothing while the config is invalid.
    void launch();

signals:
    void launchRequested(const QString& taskId, const lumen::config::Config& config, const QString& runName);
    /// After any change of the config or of its validity.
    void configChanged();

private:
    struct FieldEditor;
    void buildForm();
    QWidget* makeFieldRow(FieldEditor& fe);
    void makeEditor(FieldEditor& fe);
    QString fieldTip(const config::Field& f) const;
    void onFormEdited(const std::string& path, const YAML::Node& value);
    void onYamlEdited();
    void applyYaml(const QString& text, bool rewriteEditor);
    void fillFormFromRoot();
    void revalidate();
    void writeYamlFromRoot();
    void chooseAndLoad();
    void chooseTorchScript();
    void chooseAndSave();

    const plugin::Registry* registry_ = nullptr;
    std::shared_ptr<plugin::Task> task_;
    config::Schema schema_;
    YAML::Node root_;  // the document being edited (what the YAML says)
    bool syntaxOk_ = true;
    QStringList issues_;
    std::map<std::string, std::vector<config::ConfigIssue>> issuesByKey_;
    bool updating_ = false;    // guards form <-> YAML echo loops
    std::string editingPath_;  // the form field whose edit is being applied

    QComboBox* taskBox_;
    QLabel* description_;
    QTabWidget* tabs_;
    QWidget* formHost_;
    QVBoxLayout* formLayout_ = nullptr;
    QPlainTextEdit* yaml_;
    QTimer* yamlDebounce_;
    QLabel* issuesLabel_;
    QLineEdit* runName_;
    QComboBox* templateBox_;
    QStringList templates_;
    QString workspace_;
    QPushButton* load_;
    QPushButton* fromModel_;
    QPushButton* save_;
    QPushButton* launch_;
    QSpinBox* processes_;
    std::vector<std::unique_ptr<FieldEditor>> editors_;
};

}  // namespace lumen::widgets

Q_DECLARE_METATYPE(lumen::config::Config)
