// The ipywidgets HTML manager typesets widget labels with MathJax 2's API
// (MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])). The book loads MathJax 3,
// which has no Hub, so give it a small Hub that forwards to MathJax 3's typesetPromise.
// Loaded right before embed.js (see book/_ext/offline_assets.py).
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub) {
    return;
  }
  mj.Hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
          mj.startup.promise.then(function () {
            return mj.typesetPromise([job[2]]);
          });
        }
      });
    },
  };
});
