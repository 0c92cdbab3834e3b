/* Kernel-free interactive figures ("static twins", coursekit.widgets.static_twin).
 *
 * Each <div class="course-twin"> holds range inputs, an <img>, and two JSON scripts: the spec
 * (controls and their labels, the frame index of every combination, last control fastest) and
 * the distinct frames (data: URIs) computed when the book was built. Moving a slider shows the
 * precomputed frame; nothing is fetched and no kernel is needed.
 */
(function () {
  "use strict";

  function setup(root) {
    if (root.dataset.twinReady) return;
    var spec = JSON.parse(root.querySelector("script.course-twin-spec").textContent);
    var frames = JSON.parse(root.querySelector("script.course-twin-frames").textContent);
    var inputs = Array.prototype.slice.call(root.querySelectorAll("input.course-twin-input"));
    var outputs = inputs.map(function (input) {
      return input.closest(".course-twin-control").querySelector("output");
    });
    var image = root.querySelector("img.course-twin-frame");

    function show() {
      var flat = 0;
      inputs.forEach(function (input, i) {
        var labels = spec.controls[i].labels;
        var position = Math.max(0, Math.min(labels.length - 1, Number(input.value)));
        flat = flat * labels.length + position;
        outputs[i].textContent = labels[position];
      });
      var frame = spec.index[flat];
      image.src = frames[frame];
      root.dataset.frame = String(frame);
    }

    inputs.forEach(function (input) { input.addEventListener("input", show); });

    var button = root.querySelector("button.course-twin-play");
    if (button) {
      var input = button.closest(".course-twin-control").querySelector("input.course-twin-input");
      var timer = null;
      var stop = function () {
        window.clearInterval(timer);
        timer = null;
        button.innerHTML = "&#9654;";
        button.setAttribute("aria-label", "play");
      };
      button.addEventListener("click", function () {
        if (timer !== null) { stop(); return; }
        if (Number(input.value) >= Number(input.max)) input.value = input.min;
        button.innerHTML = "&#10074;&#10074;";
        button.setAttribute("aria-label", "pause");
        timer = window.setInterval(function () {
          if (Number(input.value) >= Number(input.max)) { stop(); return; }
          input.value = String(Number(input.value) + 1);
          show();
        }, 400);
        input.value = String(Math.min(Number(input.max), Number(input.value) + 1));
        show();
      });
    }

    root.hidden = false;
    root.dataset.twinReady = "1";
    show();
  }

  function setupAll() {
    document.querySelectorAll(".course-twin").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setupAll);
  } else {
    setupAll();
  }
})();
