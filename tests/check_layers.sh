#!/usr/bin/env bash
# The folders' dependency arrows point one way (README: "A tour of the folders"):
# each folder may include only the folders listed for it here.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [engine]=""
  [formats]="engine"
  [report]="engine"
  [layers]="engine"
  [datasets]="engine"
  [nets]="engine formats layers"
  [predictors]="engine formats layers nets"
  [pipeline]="engine formats report layers datasets nets predictors"
)
status=0
for folder in "${!allowed[@]}"; do
  for used in $(grep -ho '#include "[a-z]*/' "$folder"/*.h "$folder"/*.cpp | sed 's/#include "//; s|/||' | sort -u); do
    [ "$used" = "$folder" ] && continue
    if [[ " ${allowed[$folder]} " != *" $used "* ]]; then
      echo "layering: $folder/ includes $used/ ($(grep -l "#include \"$used/" "$folder"/*.h "$folder"/*.cpp | tr '\n' ' '))"
      status=1
    fi
  done
done
[ $status = 0 ] && echo "layering: every include points down"
exit $status
