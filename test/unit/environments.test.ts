import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withMemoryCap } from '../../shared/adapters/local/resource-caps.js';
import { ConfigError, loadConfig } from '../../shared/config.js';
import {
  DEFAULT_ENVIRONMENTS,
  defaultTestTypes,
  effectiveResources,
  environmentsView,
  parseEnvironmentsFile,
  resolveEnvironment,
} from '../../shared/domain/environments.js';

const QA = `environments:
  qa:
    description: QA
    resource_requirements:
      memory_mb: 1024
      cpu_cores: 1
      storage_gb: 10
    validation_level: standard
    monitoring_level: standard
`;

describe('environments', () => {
  it("answers GET /environments in seed 004's shape with the seed's three", () => {
    const view = environmentsView(DEFAULT_ENVIRONMENTS);
    expect(Object.keys(view.environments)).toEqual(['development', 'staging', 'production']);
    expect(view.environments.production).toMatchObject({
      description: 'Production environment for live deployments',
      resource_requirements: { memory_mb: 2048, cpu_cores: 2, storage_gb: 100 },
      validation_level: 'strict',
      monitoring_level: 'comprehensive',
    });
    expect(view.environments.staging.resource_requirements).toEqual({ memory_mb: 1024, cpu_cores: 1, storage_gb: 20 });
    expect(view.environments.development).toMatchObject({ validation_level: 'basic', monitoring_level: 'minimal' });
    expect(view.default_environment).toBe('development');
  });

  it('gives each environment its default test types', () => {
    expect(defaultTestTypes(DEFAULT_ENVIRONMENTS, 'development')).toEqual(['functional']);
    expect(defaultTestTypes(DEFAULT_ENVIRONMENTS, 'staging')).toEqual(['functional', 'performance']);
    expect(defaultTestTypes(DEFAULT_ENVIRONMENTS, 'production')).toEqual(['functional', 'performance', 'load', 'security']);
    // An operator's environment without test_types: from its validation level.
    expect(defaultTestTypes(parseEnvironmentsFile(QA, 'f.yaml'), 'qa')).toEqual(['functional', 'performance']);
  });

  it('extends the defaults from a YAML file, or replaces them', () => {
    const extended = parseEnvironmentsFile(QA, 'f.yaml');
    expect(Object.keys(extended.environments)).toEqual(['development', 'staging', 'production', 'qa']);
    expect(extended.default_environment).toBe('development');
    const replaced = parseEnvironmentsFile(`mode: replace\ndefault_environment: qa\n${QA}`, 'f.yaml');
    expect(Object.keys(replaced.environments)).toEqual(['qa']);
    expect(replaced.default_environment).toBe('qa');
  });

  it('reads JSON too', () => {
    const json = JSON.stringify({
      environments: { staging: { ...DEFAULT_ENVIRONMENTS.environments.staging, validation_level: 'strict' } },
    });
    expect(parseEnvironmentsFile(json, 'f.json').environments.staging.validation_level).toBe('strict');
  });

  it.each([
    [QA.replace('validation_level: standard', 'validation_level: paranoid'), 'f.yaml:8: environments.qa.validation_level'],
    [QA.replace('      storage_gb: 10\n', ''), 'f.yaml:4: environments.qa.resource_requirements.storage_gb'],
    [QA.replace('memory_mb: 1024', 'memory_mb: 9000'), 'f.yaml:5: environments.qa.resource_requirements.memory_mb'],
    [
      QA.replace('    monitoring_level: standard', '    monitoring_level: standard\n    backup: true'),
      'f.yaml:10: environments.qa.backup: unknown field',
    ],
    [`default_environment: nope\n${QA}`, 'f.yaml:1: default_environment: "nope" is not one of the environments'],
    ['environments:\n  qa: 1\n  qa: 2\n', 'f.yaml:3: not valid YAML or JSON: Map keys must be unique'],
    ['{"environments": {"Bad Name": {}}}', 'f.json:1: environments.Bad Name'],
  ])('a bad file names its line: %#', (text, expected) => {
    const file = expected.startsWith('f.json') ? 'f.json' : 'f.yaml';
    expect(() => parseEnvironmentsFile(text, file)).toThrow(expected);
  });

  it('fails the start-up on a bad file, naming the setting and the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-envs-'));
    const file = join(dir, 'envs.yaml');
    writeFileSync(file, QA.replace('cpu_cores: 1', 'cpu_cores: 3'));
    expect(() => loadConfig({ BATON_ENVIRONMENTS_FILE: file })).toThrow(ConfigError);
    expect(() => loadConfig({ BATON_ENVIRONMENTS_FILE: file })).toThrow(`${file}:6: environments.qa.resource_requirements.cpu_cores`);
    expect(() => loadConfig({ BATON_ENVIRONMENTS_FILE: join(dir, 'missing.yaml') })).toThrow('cannot be read');
    writeFileSync(file, QA);
    expect(Object.keys(loadConfig({ BATON_ENVIRONMENTS_FILE: file }).environments.environments)).toContain('qa');
  });

  it('resolves a missing environment to the default and refuses an unknown one, listing the known', () => {
    expect(resolveEnvironment(DEFAULT_ENVIRONMENTS, undefined)).toMatchObject({ ok: true, name: 'development' });
    expect(resolveEnvironment(DEFAULT_ENVIRONMENTS, 'qa')).toEqual({
      ok: false,
      message: 'unknown environment "qa"; known: development, staging, production',
    });
  });

  it('fills what the request leaves out from the environment, with concurrency 1 under one CPU', () => {
    const dev = DEFAULT_ENVIRONMENTS.environments.development;
    const prod = DEFAULT_ENVIRONMENTS.environments.production;
    expect(effectiveResources(undefined, dev)).toEqual({ memory_mb: 512, cpu_cores: 0.5, concurrent_tasks: 1 });
    expect(effectiveResources({ memory_mb: 4096 }, prod)).toEqual({ memory_mb: 4096, cpu_cores: 2 });
    expect(effectiveResources({ cpu_cores: 1, concurrent_tasks: 20 }, dev)).toEqual({ memory_mb: 512, cpu_cores: 1, concurrent_tasks: 20 });
  });

  it('caps a local Node revision’s heap at its memory, unless the service sets its own', () => {
    expect(withMemoryCap({ A: '1' }, 512)).toEqual({ A: '1', NODE_OPTIONS: '--max-old-space-size=512' });
    expect(withMemoryCap({ NODE_OPTIONS: '--enable-source-maps' }, 256).NODE_OPTIONS).toBe('--enable-source-maps --max-old-space-size=256');
    expect(withMemoryCap({ NODE_OPTIONS: '--max-old-space-size=64' }, 256).NODE_OPTIONS).toBe('--max-old-space-size=64');
    expect(withMemoryCap({ A: '1' }, undefined)).toEqual({ A: '1' });
  });
});
