"use strict";
// pairless serve: "Download all" builds a ZIP archive in the browser from the results the page holds, so the
// server writes no files. Stored entries (no compression): the PNGs are compressed already.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function dosTimeAndDate(date) {
  return [(date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
          ((date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate()];
}

// Little-endian fields [offset, value, bytes] of a ZIP record.
function record(length, fields) {
  const view = new DataView(new ArrayBuffer(length));
  for (const [at, value, size] of fields) {
    if (size === 4) view.setUint32(at, value, true);
    else view.setUint16(at, value, true);
  }
  return view;
}

// A ZIP archive of `files` ({name, bytes}) without compression (PNGs are compressed already): a local header
// and the data per file, then the central directory and its end record (PKWARE APPNOTE, section 4.3).
// Flag 0x0800: names are UTF-8.
function zipStored(files) {
  const names = new TextEncoder();
  const [time, date] = dosTimeAndDate(new Date());
  const parts = [], directory = [];
  let offset = 0;
  for (const { name, bytes } of files) {
    const encoded = names.encode(name), crc = crc32(bytes);
    const common = [[crc, 4], [bytes.length, 4], [bytes.length, 4], [encoded.length, 2]];
    parts.push(record(30, [[0, 0x04034b50, 4], [4, 20, 2], [6, 0x0800, 2], [8, 0, 2], [10, time, 2],
                           [12, date, 2], ...placed(14, common)]), encoded, bytes);
    directory.push(record(46, [[0, 0x02014b50, 4], [4, 20, 2], [6, 20, 2], [8, 0x0800, 2], [10, 0, 2],
                               [12, time, 2], [14, date, 2], ...placed(16, common), [42, offset, 4]]), encoded);
    offset += 30 + encoded.length + bytes.length;
  }
  const size = directory.reduce((total, part) => total + part.byteLength, 0);
  const end = record(22, [[0, 0x06054b50, 4], [8, files.length, 2], [10, files.length, 2], [12, size, 4],
                          [16, offset, 4]]);
  return new Blob([...parts, ...directory, end], { type: "application/zip" });
}

// [[value, bytes], ...] laid out one after another from `start`.
function placed(start, fields) {
  let at = start;
  return fields.map(([value, size]) => { const field = [at, value, size]; at += size; return field; });
}
