#!/usr/bin/env bash
# Makes sure DIR holds what the demo needs: scifact-beir/ (BEIR SciFact) and
# modernbert-tokenizer/ (ModernBERT's tokenizer files). Present folders are used as they are;
# missing ones are downloaded from their public sources and checked against pinned checksums.
# Fails with a readable message when offline.
set -euo pipefail
DIR=${1:?usage: fetch-data.sh DIR}
mkdir -p "$DIR"

fetch() {  # url, output, sha256 (empty = print only)
  local url=$1 out=$2 sum=$3
  echo "downloading $url"
  if ! curl -fsSL --retry 2 --connect-timeout 10 -o "$out.part" "$url"; then
    rm -f "$out.part"
    echo "error: cannot download $url (offline?). Put the files in \$TARTAN_DATA_DIR yourself:" >&2
    echo "  $DIR/scifact-beir/{corpus.jsonl,queries.jsonl,qrels/test.tsv}" >&2
    echo "  $DIR/modernbert-tokenizer/{tokenizer.json,tokenizer_config.json,special_tokens_map.json}" >&2
    exit 1
  fi
  local got
  got=$(sha256sum "$out.part" | cut -d' ' -f1)
  if [ -n "$sum" ] && [ "$got" != "$sum" ] && [ -z "${TARTAN_SKIP_CHECKSUM:-}" ]; then
    rm -f "$out.part"
    echo "error: checksum mismatch for $url: got $got, expected $sum (TARTAN_SKIP_CHECKSUM=1 to accept)" >&2
    exit 1
  fi
  echo "  sha256 $got"
  mv "$out.part" "$out"
}

if [ ! -d "$DIR/modernbert-tokenizer" ]; then
  echo "ModernBERT tokenizer not in $DIR; fetching it from the Hugging Face model hub"
  tmp=$DIR/modernbert-tokenizer.tmp
  mkdir -p "$tmp"
  base=https://huggingface.co/answerdotai/ModernBERT-base/resolve/main
  fetch "$base/tokenizer.json" "$tmp/tokenizer.json" "${MODERNBERT_TOKENIZER_SHA256:-}"
  fetch "$base/tokenizer_config.json" "$tmp/tokenizer_config.json" ""
  fetch "$base/special_tokens_map.json" "$tmp/special_tokens_map.json" ""
  mv "$tmp" "$DIR/modernbert-tokenizer"
fi

if [ ! -d "$DIR/scifact-beir" ]; then
  echo "SciFact not in $DIR; fetching BEIR's archive"
  zip=$DIR/scifact.zip
  fetch https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip "$zip" \
    "${SCIFACT_ZIP_SHA256:-}"
  /usr/bin/python3 - "$zip" "$DIR" <<'PY'
import sys, zipfile, os, shutil
zip_path, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(zip_path) as z:
    z.extractall(out)
os.rename(os.path.join(out, "scifact"), os.path.join(out, "scifact-beir"))
os.remove(zip_path)
PY
fi
