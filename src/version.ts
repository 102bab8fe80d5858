// The version comes from deno.json so that `deno compile` embeds it and there is one place to bump.
import denoJson from "../deno.json" with { type: "json" };

export const VERSION: string = denoJson.version;
