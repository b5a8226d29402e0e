#!/usr/bin/env bash
# Builds the .deb with CPack, unpacks it into a scratch root (dpkg -x) and runs the packaged
# lumen-cli from there: it must start and report its environment without the build tree.
set -euo pipefail
build_dir="$1"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cd "$build_dir"
cpack -G DEB -B "$scratch/pkg" >"$scratch/cpack.log" 2>&1 || { cat "$scratch/cpack.log"; exit 1; }
deb="$(ls "$scratch"/pkg/*.deb)"
echo "package: $deb ($(du -h "$deb" | cut -f1))"

info="$(dpkg-deb --info "$deb")"
depends="$(echo "$info" | sed -n 's/^ Depends: //p')"
echo "Depends: $depends"
for needed in libopenblas0-openmp libqt6widgets6 libtorch libopencv-core libdcmtk libyaml-cpp libsqlite3; do
  echo "$depends" | grep -q "$needed" || { echo "FAIL: Depends lacks $needed"; exit 1; }
done

root="$scratch/root"
dpkg -x "$deb" "$root"
for f in usr/bin/lumen usr/bin/lumen-cli usr/lib/lumen/liblumen_core.so usr/lib/lumen/liblumen_ml.so usr/lib/lumen/liblumen_codecs.so \
         usr/share/applications/io.github.lumen_workbench.Lumen.desktop \
         usr/share/metainfo/io.github.lumen_workbench.Lumen.metainfo.xml \
         usr/share/icons/hicolor/scalable/apps/io.github.lumen_workbench.Lumen.svg \
         usr/share/lumen/configs/roi_consistency_demo.yaml usr/share/lumen/docs/gui.md; do
  [ -e "$root/$f" ] || { echo "FAIL: package lacks /$f"; dpkg-deb -c "$deb"; exit 1; }
done
[ -d "$root/usr/lib/lumen/plugins" ] || { echo "FAIL: package lacks the plugin folder"; exit 1; }

# Run from the scratch root, away from the build tree (no LD_LIBRARY_PATH: RPATH must work).
cd "$scratch"
env -u LD_LIBRARY_PATH "$root/usr/bin/lumen-cli" env >"$scratch/env.json"
/usr/bin/python3 - "$scratch/env.json" <<'PY'
import json, sys
env = json.load(open(sys.argv[1]))
libs = env["libraries"]
for key in ("libtorch", "opencv", "dcmtk", "qt", "vtk", "sqlite"):
    assert libs.get(key), f"environment lacks libraries.{key}: {libs}"
assert env["blas"]["name"], "no BLAS reported"
print("packaged lumen-cli env:", {k: libs[k] for k in ("libtorch", "qt", "vtk")}, "blas", env["blas"]["name"])
PY
"$root/usr/bin/lumen-cli" --version
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/usr/share/applications/io.github.lumen_workbench.Lumen.desktop"
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --pedantic "$root/usr/share/metainfo/io.github.lumen_workbench.Lumen.metainfo.xml" || \
  appstreamcli validate --no-net "$root/usr/share/metainfo/io.github.lumen_workbench.Lumen.metainfo.xml"
fi
echo "PASS: .deb builds, unpacks and its lumen-cli runs"
