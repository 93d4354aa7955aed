/* Progressive enhancement only: every page works without this script.
   - A tap (pointer click) on an answer selects it and moves on; keyboard users keep the
     Next button, so arrow keys never send an answer by themselves (WCAG 3.2.2).
   - A form is sent once, even if tapped twice.
   - "Read aloud" uses the browser's own speech synthesis, only where the device has a voice
     for the page's language; nothing is sent anywhere. Nothing is stored in the browser. */
(function () {
  "use strict";
  var sending = false;
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (sending) { event.preventDefault(); return; }
      sending = true;
    });
  });
  var question = document.querySelector("form.question");
  if (question) {
    question.querySelectorAll(".options input[type=radio]").forEach(function (input) {
      input.addEventListener("click", function (event) {
        if (event.detail < 1) { return; }  /* keyboard selection: wait for Next */
        window.setTimeout(function () {
          if (question.requestSubmit) { question.requestSubmit(); } else { question.submit(); }
        }, 200);
      });
    });
  }
  var button = document.querySelector("[data-speak]");
  if (!button || !("speechSynthesis" in window)) { return; }
  var lang = (document.documentElement.lang || "da").toLowerCase();
  function voice() {
    return window.speechSynthesis.getVoices().filter(function (v) {
      return v.lang.toLowerCase().indexOf(lang) === 0;
    })[0];
  }
  function update() { button.hidden = !voice(); }
  update();
  window.speechSynthesis.addEventListener("voiceschanged", update);
  button.addEventListener("click", function () {
    var parts = [];
    document.querySelectorAll(".read, .end, .option span").forEach(function (el) {
      parts.push(el.textContent.trim());
    });
    var utterance = new SpeechSynthesisUtterance(parts.join(". "));
    utterance.voice = voice();
    utterance.lang = utterance.voice ? utterance.voice.lang : lang;
    utterance.rate = 0.9;
    window.speechSynthesis.cancel();
    window.speechSynthesis.speak(utterance);
  });
})();
