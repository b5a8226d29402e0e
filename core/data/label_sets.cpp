#include "data/label_sets.h"

namespace lumen::data {

const std::vector<std::string>& ctRateLabels() {
    static const std::vector<std::string> labels = {"Medical material",
                                                    "Arterial wall calcification",
                                                    "Cardiomegaly",
                                                    "Pericardial effusion",
                                                    "Coronary artery wall calcification",
                                                    "Hiatal hernia",
                                                    "Lymphadenopathy",
                                                    "Emphysema",
                                                    "Atelectasis",
                                                    "Lung nodule",
                                                    "Lung opacity",
                                                    "Pulmonary fibrotic sequela",
                                                    "Pleural effusion",
                                                    "Mosaic attenuation pattern",
                                                    "Peribronchial thickening",
                                                    "Consolidation",
                                                    "Bronchiectasis",
                                                    "Interlobular septal thickening"};
    return labels;
}

}  // namespace lumen::data
