// A tap on a figure opens its image full size (book/_ext/course_pages.py loads this).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-article figure img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "figure-full-size";
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
  });
});
