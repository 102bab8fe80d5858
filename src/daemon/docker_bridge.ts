// Where containers reach the host: the Docker bridge's gateway address (docker0, usually
// 172.17.0.1), which `--add-host=host.docker.internal:host-gateway` resolves to. The registry
// listens there as well as on loopback, so VMs reach it without it listening on every interface.

/** The IPv4 addresses of the host's Docker bridge (none when Docker is not set up). */
export function dockerBridgeAddresses(): string[] {
  try {
    return Deno.networkInterfaces()
      .filter((nic) => nic.name === "docker0" && nic.family === "IPv4")
      .map((nic) => nic.address);
  } catch {
    return [];
  }
}

export function isLoopbackAddress(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
