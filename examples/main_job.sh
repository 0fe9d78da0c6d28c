#!/usr/bin/env bash
# The main job (`./setup.sh run`): enrol five people from the LFW photos bundled in ../shared, from 1 to 5
# photos each (a folder per person, as face_recognition and deepface lay them out), then find them in other
# photos of theirs, among strangers and in a group photo. Prints who is where and writes annotated images
# (names and distances; green: recognised, red: unknown) to BUILD/run/annotated/.
# Usage: main_job.sh BUILD_DIR SHARED_DIR
set -euo pipefail
build=$1
shared=$2
facekit=$build/tools/facekit/facekit
out=$build/run
lfw=$shared/data/lfw/images
rm -rf "$out"
mkdir -p "$out/people"
photos() { find "$lfw/$1" -name '*.jpg' | sort; }

people=(Tony_Blair Silvio_Berlusconi Jean_Chretien David_Beckham Arnold_Schwarzenegger)
queries=()
count=1
for p in "${people[@]}"; do
  mapfile -t files < <(photos "$p")
  mkdir -p "$out/people/$p"
  for ((i = 0; i < count; i++)); do ln -s "${files[$i]}" "$out/people/$p/"; done
  queries+=("${files[$count]}" "${files[$((count + 1))]}")
  count=$((count + 1))
done
for stranger in Hans_Blix Tiger_Woods; do queries+=("$(photos "$stranger" | head -n 1)"); done
queries+=("$shared/data/images/facenet-pytorch/multiface.jpg")

"$facekit" gallery enroll --gallery "$out/people.fkg" --from-dir "$out/people" > "$out/enroll.json"
echo "enrolled (gallery $out/people.fkg):"
"$facekit" gallery list --gallery "$out/people.fkg" | python3 -c '
import json, sys
for i in json.load(sys.stdin)["identities"]: print("  %-24s %d photo%s" % (i["name"], i["count"], "" if i["count"] == 1 else "s"))'
"$facekit" gallery identify --gallery "$out/people.fkg" --draw "$out/annotated" "${queries[@]}" > "$out/identify.json"
echo "identified:"
python3 - "$out/identify.json" <<'PY'
import json, os, sys
for entry in json.load(open(sys.argv[1])):
    for f in entry["faces"]:
        x1, y1, x2, y2 = (round(v) for v in f["box"])
        who = f["name"] or "unknown"
        print("  %-28s face at (%4d,%4d)-(%4d,%4d): %-22s distance %.3f" % (os.path.basename(entry["image"]), x1, y1, x2, y2, who, f["distance"]))
PY
echo "annotated images: $out/annotated/"
