// ESLint (flat config) for the gallery's front end: native ES modules in the browser, no bundler.
// Run it with `make lint` (scripts/test.sh runs it too, so CI does).
import js from "@eslint/js";
import globals from "globals";

// Values from Redis reach the page as text only (the CSP forbids inline script as well).
const NO_MARKUP = "Build nodes with dom.js's el() and set text with textContent: never markup.";

export default [
  {
    files: ["server/static/js/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      ...js.configs.recommended.rules,
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-restricted-properties": ["error",
        { property: "innerHTML", message: NO_MARKUP },
        { property: "outerHTML", message: NO_MARKUP },
        { property: "insertAdjacentHTML", message: NO_MARKUP },
        { object: "document", property: "write", message: NO_MARKUP },
        { object: "document", property: "writeln", message: NO_MARKUP },
      ],
      "no-restricted-globals": ["error",
        { name: "alert", message: "Use toast() from toast.js." },
        { name: "confirm", message: "Ask in the page (see detail.js's two-step delete)." },
      ],
      eqeqeq: "error",
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.node } },
  },
  { ignores: ["node_modules/", "server/static/vendor/", ".venv/"] },
];
