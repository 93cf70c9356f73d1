import { useEffect, useState } from 'preact/hooks';

/** Hash routing (`#/servers/<id>/log`): the server sends one page for every path, and a reload keeps the place. */
export function useRoute(): string[] {
  const [parts, setParts] = useState(split());
  useEffect(() => {
    const on = (): void => setParts(split());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return parts;
}

function split(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function go(...parts: string[]): void {
  location.hash = href(...parts);
}
