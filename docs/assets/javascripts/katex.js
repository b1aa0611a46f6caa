// Renders the math that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \] spans, with the
// KaTeX files vendored in docs/assets/katex (the site loads nothing from the network).
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
