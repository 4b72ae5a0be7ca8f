// The file of a message inside its bubble: photo thumbnail (opens the full one), sticker, audio
// and video players, a document chip with name, size and download. Until the server has the
// bytes a box of the same size says so; a failed download says why, in words.
// Boxes have fixed sizes so a photo that loads later never moves the thread under the reader.
import { el } from "./format.js";
import { icon } from "./icons.js";
import { t } from "./strings.js";

const sizeFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** 1234567 → "1,2 MB" in the browser's locale. */
export function formatSize(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${sizeFmt.format(bytes / 1024)} KB`;
  return `${sizeFmt.format(bytes / (1024 * 1024))} MB`;
}

/** "application/pdf" → "PDF" (the chip's second line). */
function typeLabel(mime, filename) {
  const ext = /\.([A-Za-z0-9]{1,5})$/.exec(filename || "")?.[1];
  if (ext) return ext.toUpperCase();
  const sub = (mime || "").split("/")[1] || "";
  return sub.replace(/^vnd\.|^x-/, "").slice(0, 12).toUpperCase();
}

function reasonText(media) {
  return t(`media_err_${media.error}`) || t("media_err_other");
}

function documentChip(m, media) {
  const ready = media.state === "ready";
  const chip = el(ready ? "a" : "div", "doc-chip");
  const name = media.filename || t("media_document");
  if (ready) {
    chip.href = media.url;
    chip.setAttribute("download", media.filename || "");
    chip.setAttribute("aria-label", t("media_download_named", { name }));
  }
  chip.append(el("span", "doc-icon", typeLabel(media.mime, media.filename) || "DOC"));
  const text = el("span", "doc-text");
  text.append(el("span", "doc-name", name));
  const detail = media.state === "ready" ? [formatSize(media.size), typeLabel(media.mime, media.filename)].filter(Boolean).join(" · ")
    : media.state === "failed" ? reasonText(media) : t("media_downloading");
  text.append(el("span", `doc-detail${media.state === "failed" ? " media-error" : ""}`, detail));
  chip.append(text);
  if (ready) {
    const get = el("span", "doc-get");
    get.title = t("media_download");
    get.append(icon("down"));
    chip.append(get);
  }
  return chip;
}

function waitingBox(kind, media) {
  const box = el("div", `media-box media-${kind} media-${media.state}`);
  const label = t(`media_${kind}`) || t("media_other");
  box.append(el("span", "media-kind", label));
  if (media.state === "failed") {
    const why = el("span", "media-note media-error", reasonText(media));
    box.append(why);
  } else {
    box.append(el("span", "media-note", t("media_downloading")));
    box.setAttribute("aria-busy", "true");
  }
  return box;
}

/** The element for a message's file (call again when `m.media` changes). */
export function renderMedia(m) {
  const node = draw(m);
  node.classList.add("media-slot");
  return node;
}

function draw(m) {
  const media = m.media;
  const kind = media.kind || m.type;
  if (kind === "document") return documentChip(m, media);
  if (media.state !== "ready") return waitingBox(kind, media);
  const caption = m.body || "";
  if (kind === "image") {
    const link = el("a", "media-box media-image");
    link.href = media.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.setAttribute("aria-label", t("media_open_photo"));
    const img = el("img");
    img.src = media.url;
    img.alt = caption || t("media_photo_alt");
    img.loading = "lazy";
    img.decoding = "async";
    link.append(img);
    return link;
  }
  if (kind === "sticker") {
    const img = el("img", "media-sticker");
    img.src = media.url;
    img.alt = t("media_sticker");
    img.loading = "lazy";
    img.width = 128;
    img.height = 128;
    return img;
  }
  if (kind === "audio") {
    const audio = el("audio", "media-audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = media.url;
    audio.setAttribute("aria-label", t("media_audio_label"));
    return audio;
  }
  if (kind === "video") {
    const video = el("video", "media-box media-video");
    video.controls = true;
    video.preload = "metadata";
    video.src = media.url;
    video.setAttribute("aria-label", t("media_video_label"));
    return video;
  }
  return waitingBox(kind, media);
}

/** A key that changes when what renderMedia draws changes. */
export function mediaKey(media) {
  return media ? `${media.state}:${media.size ?? ""}:${media.error ?? ""}` : "";
}
