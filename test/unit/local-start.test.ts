import { describe, expect, it } from 'vitest';
import { analyseSource } from '../../shared/domain/analysis/analyse.js';
import { localStartArgv, localStartCommand } from '../../shared/domain/analysis/local-start.js';
import { STACKS } from '../support/corpus.js';
import { reader } from '../support/source-reader.js';

// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
const H = '${BATON_LISTEN_HOST:-0.0.0.0}';

describe('localStartCommand: the image binds 0.0.0.0, the local runtime the address in BATON_LISTEN_HOST', () => {
  it.each([
    ['uvicorn app.main:app --host 0.0.0.0 --port $PORT', `uvicorn app.main:app --host ${H} --port $PORT`],
    ['uvicorn app:app --host=0.0.0.0 --port=$PORT', `uvicorn app:app --host=${H} --port=$PORT`],
    ['gunicorn -b 0.0.0.0:$PORT web:app', `gunicorn -b ${H}:$PORT web:app`],
    ['gunicorn --bind=0.0.0.0:8080 web:app', `gunicorn --bind=${H}:8080 web:app`],
    ['gunicorn mysite.wsgi', `gunicorn --bind ${H}:\${PORT:-8080} mysite.wsgi`],
    ['exec gunicorn app:app', `exec gunicorn --bind ${H}:\${PORT:-8080} app:app`],
    ['python manage.py runserver 0.0.0.0:$PORT', `python manage.py runserver ${H}:$PORT`],
    ['flask run --host 0.0.0.0 --port $PORT', `flask run --host ${H} --port $PORT`],
  ])('%s', (image, local) => {
    expect(localStartCommand(image)).toBe(local);
  });

  it.each([
    'python main.py',
    './server',
    'uvicorn app:app --host 10.0.0.5 --port $PORT',
    'gunicorn -b unix:/tmp/s.sock app:app',
    'GUNICORN_CMD_ARGS="--bind=0.0.0.0" gunicorn app:app',
    'hypercorn app:app --bind [::]:$PORT',
  ])('left as it is: %s', (command) => {
    // A bind the app chose (another address, a socket) or none at all: the app decides.
    expect(localStartCommand(command)).toBe(command);
  });

  it('the argv: unchanged when the command is, else through sh -c exec so the variables expand', () => {
    const plain = analyseSource(reader(STACKS['python-pipenv-plain']));
    const fastapi = analyseSource(reader(STACKS['python-fastapi']));
    const go = analyseSource(reader(STACKS['go-root']));
    if (!plain.ok || !fastapi.ok || !go.ok) throw new Error('not analysed');
    expect(localStartArgv(plain.analysis)).toEqual(['python', 'main.py']);
    expect(localStartArgv(go.analysis)).toEqual(['./server']);
    expect(fastapi.analysis.start_argv).toEqual(['sh', '-c', 'exec uvicorn app.main:app --host 0.0.0.0 --port $PORT']);
    expect(localStartArgv(fastapi.analysis)).toEqual(['sh', '-c', `exec uvicorn app.main:app --host ${H} --port $PORT`]);
  });
});
