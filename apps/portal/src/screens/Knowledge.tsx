import { type FormEvent, useCallback, useRef, useState } from 'react';
import { accessToken, api, type KnowledgeDocument, must, problemMessage } from '../api/client';
import { usePoll } from '../usePoll';

const TYPES: Record<string, string> = { md: 'text/markdown', markdown: 'text/markdown', txt: 'text/plain', html: 'text/html', htm: 'text/html', pdf: 'application/pdf' };
const ACCEPT = '.md,.markdown,.txt,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf';
const STATE: Record<KnowledgeDocument['state'], string> = { queued: 'Queued', indexing: 'Indexing', indexed: 'Indexed', failed: 'Failed' };

const typeOf = (file: File): string => file.type || TYPES[file.name.split('.').pop()?.toLowerCase() ?? ''] || 'application/octet-stream';
const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

/**
 * Sends a document with upload progress (fetch reports none, so XMLHttpRequest): the body is the
 * file itself, its type the Content-Type, as POST/PUT /documents take it.
 */
async function send(method: 'POST' | 'PUT', path: string, file: File, onProgress: (pct: number) => void): Promise<KnowledgeDocument> {
  const token = await accessToken();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.setRequestHeader('content-type', typeOf(file));
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    if (method === 'POST') xhr.setRequestHeader('idempotency-key', crypto.randomUUID());
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as KnowledgeDocument);
      else reject(new Error(problemMessage(body, xhr.status)));
    };
    xhr.onerror = () => reject(new Error(problemMessage(null)));
    xhr.send(file);
  });
}

/** The knowledge base: upload with progress, replace, delete, and each document's indexing state. */
export function Knowledge({ canWrite }: { canWrite: boolean }) {
  const [docs, setDocs] = useState<KnowledgeDocument[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [title, setTitle] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const load = useCallback(async () => {
    try {
      setDocs(must(await api.GET('/documents', { params: { query: { limit: 200 } } })).documents);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  const busyIndexing = docs?.some((d) => d.state === 'queued' || d.state === 'indexing') ?? false;
  usePoll(load, busyIndexing ? 1_000 : 10_000, [busyIndexing]);

  const upload = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setDone(null);
    setProgress(0);
    try {
      const doc = await send('POST', `/documents?${new URLSearchParams({ title: title.trim() || file.name })}`, file, setProgress);
      setDone(`“${doc.title}” uploaded; it is being indexed.`);
      setFile(null);
      setTitle('');
      if (fileInput.current) fileInput.current.value = '';
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setProgress(null);
    }
  };

  const replace = async (doc: KnowledgeDocument, f: File) => {
    setError(null);
    setDone(null);
    setProgress(0);
    try {
      await send('PUT', `/documents/${doc.id}`, f, setProgress);
      setDone(`“${doc.title}” replaced; the new version is being indexed.`);
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setProgress(null);
    }
  };

  const remove = async (doc: KnowledgeDocument) => {
    if (!confirm(`Delete “${doc.title}” and its passages? Drafts will no longer cite it.`)) return;
    setError(null);
    const r = await api.DELETE('/documents/{id}', { params: { path: { id: doc.id } } });
    if (!r.response.ok) setError(problemMessage(r.error, r.response.status));
    else setDone(`“${doc.title}” deleted.`);
    await load();
  };

  return (
    <div className="page">
      <h1>Knowledge base</h1>
      <p>Drafts cite the passages of these documents. Plain text, Markdown, HTML or PDF, up to 20 MB.</p>
      {canWrite && (
        <form className="upload" onSubmit={upload}>
          <h2>Upload a document</h2>
          <label htmlFor="doc-file">Document</label>
          <input
            id="doc-file"
            ref={fileInput}
            type="file"
            accept={ACCEPT}
            required
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null;
              setFile(f);
              if (f && !title) setTitle(f.name.replace(/\.[^.]+$/, ''));
            }}
          />
          <label htmlFor="doc-title">Title</label>
          <input id="doc-title" value={title} maxLength={500} onChange={(e) => setTitle(e.target.value)} />
          <button type="submit" disabled={!file || progress !== null}>
            Upload
          </button>
        </form>
      )}
      {progress !== null && (
        <p>
          <label htmlFor="upload-progress">Uploading </label>
          <progress id="upload-progress" max={100} value={progress}>
            {progress}%
          </progress>{' '}
          {progress}%
        </p>
      )}
      <div aria-live="polite" className="live">
        {done && <p className="ok">{done}</p>}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <h2>Documents</h2>
      {docs === null ? (
        <p role="status">Loading documents…</p>
      ) : docs.length === 0 ? (
        <p>No documents yet.</p>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Documents">
          <table className="docs">
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">State</th>
                <th scope="col">Size</th>
                <th scope="col" className="optional">
                  Version
                </th>
                <th scope="col" className="optional">
                  Updated
                </th>
                {canWrite && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {docs.map((d) => (
                <tr key={d.id} data-document={d.id}>
                  <th scope="row">{d.title}</th>
                  <td>
                    <span className={`badge ${d.state}`} data-state={d.state}>
                      {STATE[d.state]}
                    </span>
                    {d.state === 'indexing' && (
                      <>
                        {' '}
                        <progress max={100} value={d.progress} aria-label={`${d.title}: indexed`}>
                          {d.progress}%
                        </progress>
                      </>
                    )}
                    {d.state === 'indexed' && <span className="muted"> · {d.chunks} {d.chunks === 1 ? "passage" : "passages"}</span>}
                    {d.error && <span className="error-text"> · {d.error}</span>}
                  </td>
                  <td>{size(d.bytes)}</td>
                  <td className="optional">{d.version}</td>
                  <td className="optional">{new Date(d.updatedAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}</td>
                  {canWrite && (
                    <td className="row-actions">
                      <label className="button secondary small">
                        Replace<span className="sr-only"> {d.title}</span>
                        <input type="file" accept={ACCEPT} className="sr-only" onChange={(e) => e.target.files?.[0] && void replace(d, e.target.files[0])} />
                      </label>
                      <button type="button" className="secondary danger small" onClick={() => void remove(d)}>
                        Delete<span className="sr-only"> {d.title}</span>
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
