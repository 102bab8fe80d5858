// The server-wide defaults the settings (src/config/settings.ts) and the server share. Each
// ecosystem's upstream defaults are in its own descriptor (src/registry/<id>/mod.ts).
export const DEFAULT_PORT = 3080;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_METADATA_TTL_SECONDS = 300;
/** Three days: a Friday's cache still answers at once on Monday, refreshed behind the scenes. */
export const DEFAULT_METADATA_MAX_STALE_SECONDS = 3 * 86400;
