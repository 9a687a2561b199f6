import { resolve } from 'node:path';
import { loadConfig } from '../../services/common/src/config';
import { kamailioArgs, writeKamailioConfig } from '../stack/kamailio';
import { ensureTlsCertificate } from '../stack/tls';

/**
 * The kamailio image's start step (deploy/images/kamailio/entrypoint.sh): reads the
 * configuration from the container's environment with the same loadConfig and renders
 * it with the same renderer `npm start` uses, generating the self-signed SIP TLS pair
 * first when SIP_TLS_CERT_FILE/SIP_TLS_KEY_FILE are not given. Prints Kamailio's
 * command-line arguments, one a line, for the entrypoint to exec.
 *
 *   node kamailio-config.js --out <dir>
 */
function main(): void {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (!out) throw new Error('usage: kamailio-config --out <dir>');
  const config = loadConfig(process.env);
  const tls = ensureTlsCertificate(config);
  if (tls === 'generated')
    process.stderr.write(`generated a self-signed SIP TLS certificate ${config.sip.tls.certFile}\n`);
  const cfgPath = writeKamailioConfig(config, resolve(out));
  process.stdout.write(`${kamailioArgs(config, cfgPath).join('\n')}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`kamailio-config: ${(err as Error).message}\n`);
  process.exit(1);
}
