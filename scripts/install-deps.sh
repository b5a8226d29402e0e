#!/usr/bin/env bash
# Installs every Debian 12 package Lumen needs to build, test and run.
# Idempotent: packages already present are skipped; nothing else is downloaded.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache git pkg-config file dpkg-dev
  clang-format-14  # the house style, checked by test_house_rules
  # libraries
  qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev qt6-svg-dev
  libqcustomplot-dev libqcustomplot2.1-qt6
  libvtk9-dev libopencv-dev libdcmtk-dev dcmtk libtorch-dev
  libyaml-cpp-dev libsqlite3-dev libnifti2-dev nlohmann-json3-dev
  libopenjp2-7-dev  # JPEG 2000 DICOM frames (DCMTK 3.6.7 has no J2K codec)
  libturbojpeg0-dev  # grey 8-bit JPEG cines, frames in parallel (faster than DCMTK's IJG)
  libicu-dev  # Unicode for the tokenizers (categories, case mapping, normalisation)
  # fast BLAS for LibTorch (the reference BLAS is ~15x slower, see BUILD.md)
  libopenblas0-openmp
  # GUI tests
  xvfb xauth libgl1-mesa-dri mesa-utils
  # packaging checks
  desktop-file-utils appstream
  # independent references used by the tests
  python3 python3-numpy python3-pandas python3-scipy python3-sklearn python3-pydicom
  python3-nibabel python3-torch python3-torchvision
  python3-regex  # GPT-2's reference pre-tokenizer pattern (\p{L}, \p{N}) in the tokenizer tests
  # PACS tests start their own Orthanc on loopback (docs/pacs.md)
  orthanc
  # multi-process training: LibTorch's ProcessGroupGloo headers include <gloo/...>;
  # the Slurm test starts its own single-node slurmctld/slurmd/munged (docs/distributed.md)
  libgloo-dev slurmctld slurmd slurm-client munge
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# orthanc's postinst starts a system service; the tests run their own Orthanc, so keep
# services from starting during the install with a temporary policy-rc.d (exit 101 =
# "action forbidden"). Only a policy we created is removed, also when apt fails.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from lumen scripts/install-deps.sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  created_policy=1
fi
remove_policy() { if [ "$created_policy" -eq 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap remove_policy EXIT

$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
