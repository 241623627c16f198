// qgen preview: render the math (KaTeX auto-render, copied beside the page) and check
// practice answers in the browser. No dependencies, no network.
(function () {
  "use strict";

  // The slack qgen.grade adds to a tolerance, for the float64 rounding of the
  // comparison itself (0.2931 - 0.2930 is 1.0000000000000286e-04).
  var RELATIVE_SLACK = 1e-9;
  var ABSOLUTE_SLACK = 1e-12;
  var NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

  var answers = JSON.parse(document.getElementById("qgen-answers").textContent);
  var right = {};  // question anchor -> whether its last attempt was right

  function renderMath() {
    if (typeof window.renderMathInElement !== "function") {
      document.body.setAttribute("data-math", "missing");
      return;
    }
    window.renderMathInElement(document.body, {
      delimiters: [
        { left: "\\[", right: "\\]", display: true },
        { left: "\\(", right: "\\)", display: false }
      ],
      // An error shows as a red .katex-error node (the tests look for them) rather
      // than stopping the rest of the page.
      throwOnError: false
    });
    document.body.setAttribute("data-math", "rendered");
  }

  function parseNumber(text) {
    var t = text.trim().replace(/\u2212/g, "-");
    return NUMBER.test(t) ? Number(t) : null;
  }

  function within(given, expected, tolerance) {
    return Math.abs(given - expected) <= tolerance * (1 + RELATIVE_SLACK) + ABSOLUTE_SLACK;
  }

  function show(element, text, status) {
    element.textContent = text;
    element.className = element.className.replace(/\s*\b(correct|incorrect|invalid)\b/g, "");
    if (status) {
      element.className += " " + status;
    }
  }

  function checkNumeric(form, data) {
    var inputs = form.querySelectorAll("input[data-entry]");
    var correct = 0;
    var unread = 0;
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var entry = data.entries[Number(input.getAttribute("data-entry"))];
      var verdict = input.parentNode.parentNode.querySelector(".verdict");
      var given = parseNumber(input.value);
      if (given === null) {
        unread += 1;
        show(verdict, input.value.trim() ? "not a number" : "no answer", "invalid");
        input.setAttribute("aria-invalid", "true");
      } else if (within(given, entry.value, entry.tolerance)) {
        correct += 1;
        show(verdict, "\u2713", "correct");
        input.setAttribute("aria-invalid", "false");
      } else {
        show(verdict, "\u2717", "incorrect");
        input.setAttribute("aria-invalid", "true");
      }
    }
    var all = inputs.length;
    if (correct === all) {
      return { ok: true, text: "Correct: all " + all + " entr" + (all === 1 ? "y" : "ies")
        + " within tolerance." };
    }
    var text = "Incorrect: " + correct + " of " + all + " entries right";
    if (unread) {
      text += " (" + unread + " not a number or left empty)";
    }
    return { ok: false, text: text + "." };
  }

  function checkChoice(form, data) {
    var chosen = form.querySelector("input[type=radio]:checked");
    if (!chosen) {
      return { ok: false, text: "Choose an option first.", invalid: true };
    }
    for (var i = 0; i < data.options.length; i++) {
      var option = data.options[i];
      if (option.label === chosen.value) {
        if (option.correct) {
          return { ok: true, text: "Correct: " + option.label + "." };
        }
        return { ok: false, text: "Incorrect: " + option.label + " is what you get if you "
          + (option.feedback || "make a mistake") + "." };
      }
    }
    return { ok: false, text: "Unknown option.", invalid: true };
  }

  function updateScore() {
    var total = Object.keys(answers).length;
    var count = 0;
    for (var key in right) {
      if (right[key]) {
        count += 1;
      }
    }
    var score = document.getElementById("score");
    score.textContent = "Score: " + count + " of " + total + " questions answered right.";
  }

  function onSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var anchor = form.getAttribute("data-question");
    var data = answers[anchor];
    var outcome = data.kind === "choice" ? checkChoice(form, data) : checkNumeric(form, data);
    var result = form.querySelector(".result");
    show(result, outcome.text, outcome.invalid ? "invalid" : outcome.ok ? "correct" : "incorrect");
    if (outcome.invalid) {
      return;
    }
    right[anchor] = outcome.ok;
    updateScore();
    var solution = document.getElementById(anchor).querySelector("details.solution");
    if (solution) {
      solution.open = true;
    }
  }

  var forms = document.querySelectorAll("form.practice");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", onSubmit);
  }
  renderMath();
})();
