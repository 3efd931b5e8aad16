#!/bin/sh
# Both stores side by side, same catalogue, same code: requests/s and latency of geopublish
# serving the default catalogue from a GeoPackage API and a PostGIS API.
#   bench/serve/stores.sh http://127.0.0.1:18731 http://127.0.0.1:18732 10 > /tmp/stores.txt
# Each API is `geopublish serve --workers 1` over `geopublish build` of the default catalogue
# (GEOPUBLISH_STORE=gpkg, then postgis). wrk: 4 connections, 2 threads, one case at a time.
# Two more URLs (the same two stores served by the code before a change) measure before and
# after in one run, case by case:
#   bench/serve/stores.sh GPKG PG 8 GPKG_BEFORE PG_BEFORE
set -eu
GPKG=$1
PG=$2
DURATION=${3:-10}
GPKG_BEFORE=${4:-}
PG_BEFORE=${5:-}
CQL="filter=departement%3D%2734%27%20AND%20nom%20LIKE%20%27S%25%27"
STORES="gpkg postgis"
[ -n "$GPKG_BEFORE" ] && STORES="gpkg-before postgis-before gpkg postgis"
for case in \
  "page100 /collections/communes/items?f=json&limit=100" \
  "by_id /collections/communes/items/31555?f=json" \
  "bbox /collections/communes/items?f=json&limit=100&bbox=3.8,43.5,3.95,43.65" \
  "cql2 /collections/communes/items?f=json&limit=100&$CQL" \
  "points1000 /collections/transport_stops/items?f=json&limit=1000"; do
  name=${case%% *}
  path=${case#* }
  for store in $STORES; do
    case $store in
      gpkg) base=$GPKG ;;
      postgis) base=$PG ;;
      gpkg-before) base=$GPKG_BEFORE ;;
      postgis-before) base=$PG_BEFORE ;;
    esac
    wrk -t2 -c4 -d"${DURATION}s" --latency "$base$path" |
      awk -v n="$name" -v s="$store" '/Requests\/sec/ {r=$2} /50%/ {p50=$2} /99%/ {p99=$2}
        END {printf "%-11s %-14s %9s req/s  p50 %8s  p99 %8s\n", n, s, r, p50, p99}'
  done
done
