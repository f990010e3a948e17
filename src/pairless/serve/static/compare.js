"use strict";
// pairless serve: one result's views: a before/after slider (drag it or use its range input), side by side,
// U-GAT-IT's attention map over the input, and the result's download link.

function figure(caption, src, className, alt) {
  const box = el("figure", null, className);
  const image = el("img", null, className === "after" ? "output" : "input");
  image.src = src;
  image.alt = alt;
  image.draggable = false;  // dragging moves the compare slider, not the picture
  box.append(image, el("figcaption", caption));
  return box;
}

function compareView(job, result) {
  const box = el("div", null, "compare slider");
  if (Math.max(result.width, result.height) < 128) box.classList.add("pixelated");
  box.style.setProperty("--split", "50%");
  const frame = el("div", null, "frame");
  frame.append(figure("after", result.output, "after", `${job.name} translated`),
               figure("before", job.preview, "before", `${job.name} before translation`), el("div", null, "divider"));
  const slider = el("input", null, "split");
  Object.assign(slider, { type: "range", min: 0, max: 100, value: 50 });
  slider.setAttribute("aria-label", `Compare ${job.name}: percent of the width showing the input`);
  slider.addEventListener("input", () => box.style.setProperty("--split", `${slider.value}%`));
  dragToCompare(frame, slider);
  box.append(frame, slider);
  return box;
}

function dragToCompare(frame, slider) {
  const follow = (event) => {
    const rect = frame.getBoundingClientRect();
    slider.value = Math.round(100 * Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)));
    slider.dispatchEvent(new Event("input"));
  };
  frame.addEventListener("pointerdown", (event) => {
    if (!frame.parentElement.classList.contains("slider")) return;
    frame.setPointerCapture(event.pointerId);
    follow(event);
  });
  frame.addEventListener("pointermove", (event) => { if (frame.hasPointerCapture(event.pointerId)) follow(event); });
}

function viewTools(compare, job, result) {
  const tools = el("div", null, "tools");
  const modes = el("div", null, "modes");
  modes.setAttribute("role", "group");
  modes.setAttribute("aria-label", `View of ${job.name}`);
  const buttons = [["slider", "Slider"], ["side", "Side by side"]].map(([mode, label]) => {
    const button = el("button", label, "quiet");
    button.type = "button";
    button.dataset.mode = mode;
    button.setAttribute("aria-pressed", String(mode === "slider"));
    button.addEventListener("click", () => {
      compare.classList.remove("slider", "side");
      compare.classList.add(mode);
      buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    });
    return button;
  });
  modes.append(...buttons);
  tools.append(modes);
  if (result.attention) tools.append(attentionToggle(compare, job, result));
  const download = el("a", `Download ${result.download}`, "download");
  download.href = result.output;
  download.download = result.download;
  tools.append(download);
  return tools;
}

function attentionToggle(compare, job, result) {
  const label = el("label");
  const box = el("input", null, "show-attention");
  box.type = "checkbox";
  box.addEventListener("change", () => {
    const before = compare.querySelector("figure.before");
    before.querySelector("img").src = box.checked ? result.attention : job.preview;
    before.querySelector("figcaption").textContent = box.checked ? "before + attention" : "before";
  });
  label.append(box, " attention map over the input");
  return label;
}
