// The dashboard's write forms (private packages only): enter the token, remove a version or a
// package, claim a name, sign out. Plain HTML forms posting to this server (session.ts checks the
// origin and the token); no script, so they work under the pages' `script-src 'none'`.
import { type Html, html } from "./html.ts";
import { layout } from "./layout.ts";

/** `/ui/packages/<type>/<name>` + `/remove`, `/claim`…: the name as one encoded segment. */
function actionPath(type: string, name: string, action: string): string {
  return `/ui/packages/${encodeURIComponent(type)}/${encodeURIComponent(name)}/${action}`;
}

export function tokenForm(back: string): Html {
  return html`
    <form class="write" id="token-form" method="post" action="/ui/session">
      <input type="hidden" name="back" value="${back}">
      <label>Write token (<code>vm pkg token</code>) <input type="password" name="token" autocomplete="off" required></label>
      <button type="submit">Sign in to change private packages</button>
    </form>
  `;
}

export function signOutForm(back: string): Html {
  return html`
    <form class="write" method="post" action="/ui/session/end">
      <input type="hidden" name="back" value="${back}">
      <span class="muted">Signed in with the write token for this browser session.</span>
      <button type="submit">Sign out</button>
    </form>
  `;
}

export function removeVersionForm(type: string, name: string, version: string): Html {
  return html`
    <form method="post" action="${actionPath(type, name, "remove")}">
      <input type="hidden" name="version" value="${version}">
      <button type="submit" class="remove-version">Remove ${version}</button>
    </form>
  `;
}

export function removePackageForm(type: string, name: string): Html {
  return html`
    <form class="write" method="post" action="${actionPath(type, name, "remove")}">
      <label><input type="checkbox" name="reopen" value="true"> and reopen the name (upstream's again)</label>
      <button type="submit" id="remove-package">Remove every version</button>
    </form>
  `;
}

export function claimForm(types: readonly string[]): Html {
  return html`
    <form class="write" id="claim-form" method="post" action="/ui/claim">
      <select name="type" aria-label="ecosystem">${types.map((type) =>
        html`<option value="${type}">${type}</option>`
      )}</select>
      <input type="text" name="name" required placeholder="name" aria-label="name to claim">
      <button type="submit">Claim the name</button>
    </form>
  `;
}

/** What a write did, or why it was refused, with the way back. */
export function resultPage(title: string, message: string, back: string): Html {
  return layout(
    title,
    "packages",
    html`
      <h1>${title}</h1>
      <p id="result">${message}</p>
      <p><a href="${back}">Back</a></p>
    `,
  );
}
