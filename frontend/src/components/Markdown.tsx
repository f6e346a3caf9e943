// Message text as the safe Markdown subset of api-v1.1 A, through react-markdown (no raw HTML
// plugin: it never reaches the HTML parser): emphasis, strong, strike, inline code, fenced code
// blocks (with a copy button), quotes, lists, links to http/https/mailto (new tab, no opener).
// Raw HTML, Markdown images and link definitions are shown as the text they were written as;
// other links are text; `@name` tokens the server counted as mentions become chips.
import type { Element as HastElement } from 'hast';
import type { Nodes, Parent, PhrasingContent, Root, RootContent, Text } from 'mdast';
import { findAndReplace } from 'mdast-util-find-and-replace';
import { gfmAutolinkLiteralFromMarkdown } from 'mdast-util-gfm-autolink-literal';
import { gfmStrikethroughFromMarkdown } from 'mdast-util-gfm-strikethrough';
import { gfmAutolinkLiteral } from 'micromark-extension-gfm-autolink-literal';
import { gfmStrikethrough } from 'micromark-extension-gfm-strikethrough';
import { memo, type ReactNode, useRef, useState } from 'react';
import ReactMarkdown, { type Components, type Options } from 'react-markdown';
import remarkBreaks from 'remark-breaks';

/** The elements the renderer may produce; anything else is unwrapped to its text. */
const ALLOWED = ['p', 'br', 'em', 'strong', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'hr', 'span', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

/** Only absolute http, https and mailto URLs; anything else (javascript:, data:, relative…) is no link. */
export function safeUrl(url: string): string | null {
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.hostname ? u.href : null;
    if (u.protocol === 'mailto:') return u.href;
    return null;
  } catch {
    return null;
  }
}

type ProcessorLike = { data(): object };

/** GFM strikethrough (`~~x~~`) and bare URL/email links, without the rest of GFM (tables, footnotes, task lists). */
function remarkStrikeAndAutolinks(this: ProcessorLike): void {
  const data = this.data() as Record<string, unknown>;
  const push = (key: string, ext: unknown) => {
    const list = (data[key] as unknown[] | undefined) ?? [];
    list.push(ext);
    data[key] = list;
  };
  push('micromarkExtensions', gfmStrikethrough({ singleTilde: false }));
  push('micromarkExtensions', gfmAutolinkLiteral());
  push('fromMarkdownExtensions', gfmStrikethroughFromMarkdown());
  push('fromMarkdownExtensions', gfmAutolinkLiteralFromMarkdown());
}

/** The source text a node was parsed from. */
function sourceOf(node: Nodes, source: string): string {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  if (start === undefined || end === undefined) return 'value' in node && typeof node.value === 'string' ? node.value : '';
  return source.slice(start, end);
}

/** Raw HTML, images and link definitions become plain text of what was typed. */
function remarkAsText() {
  return (tree: Root, file: { value: unknown }): void => {
    const source = typeof file.value === 'string' ? file.value : String(file.value ?? '');
    const walk = (parent: Parent, block: boolean): void => {
      parent.children = parent.children.map((child: RootContent): RootContent => {
        const c = child as Nodes;
        if (c.type === 'html' || c.type === 'image' || c.type === 'imageReference' || c.type === 'definition') {
          const text: Text = { type: 'text', value: sourceOf(c, source), position: c.position };
          // At block level (a line of HTML, a definition) the text needs a paragraph around it.
          return (block && c.type !== 'image' && c.type !== 'imageReference' ? { type: 'paragraph', children: [text], position: c.position } : text) as RootContent;
        }
        if ('children' in c) walk(c, c.type === 'root' || c.type === 'blockquote' || c.type === 'listItem');
        return child;
      });
    };
    walk(tree, true);
  };
}

export interface MentionChips {
  /** Lower-cased usernames that show as chips (`room` for `@room`). */
  names: ReadonlySet<string>;
  /** Lower-cased usernames that are me (highlighted). */
  mine: ReadonlySet<string>;
}

const MENTION = /(?<![\w@.+-])@([A-Za-z0-9_.-]{3,40})/g;

/** `@name` tokens of counted mentions become chips (never inside code or links). */
function remarkMentionChips(options: MentionChips) {
  return (tree: Root): void => {
    if (options.names.size === 0) return;
    findAndReplace(
      tree,
      [
        [
          MENTION,
          (_whole: string, raw: string): PhrasingContent[] | false => {
            // Trailing punctuation ends the sentence, not the name: `@bob.` is bob.
            const name = options.names.has(raw.toLowerCase()) ? raw : raw.replace(/[.\-_]+$/, '');
            const key = name.toLowerCase();
            if (!options.names.has(key)) return false;
            // A parent node (not a text node, which the replacer would merge with its neighbours) rendered as a span.
            const chip: PhrasingContent = {
              type: 'emphasis',
              children: [{ type: 'text', value: `@${name}` }],
              data: { hName: 'span', hProperties: { className: options.mine.has(key) || key === 'room' ? ['mention', 'mention--me'] : ['mention'], dataMention: key } },
            };
            const rest = raw.slice(name.length);
            return rest ? [chip, { type: 'text', value: rest }] : [chip];
          },
        ],
      ],
      { ignore: ['link', 'linkReference', 'inlineCode', 'code'] },
    );
  };
}

function CodeBlock({ children }: { children?: ReactNode }) {
  const ref = useRef<HTMLPreElement>(null);
  const [copied, setCopied] = useState(false);
  return (
    <div className="md-code">
      <pre ref={ref}>{children}</pre>
      <button
        type="button"
        className="btn btn--chip md-code__copy"
        onClick={(e) => {
          e.stopPropagation();
          const text = ref.current?.textContent ?? '';
          void navigator.clipboard?.writeText(text.replace(/\n$/, '')).then(
            () => {
              setCopied(true);
              window.setTimeout(() => setCopied(false), 1500);
            },
            () => undefined,
          );
        }}
      >
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

function Heading({ children }: { children?: ReactNode }) {
  return <p className="md-heading">{children}</p>;
}

const COMPONENTS: Components = {
  a: ({ href, children }) => {
    const safe = typeof href === 'string' ? safeUrl(href) : null;
    if (!safe) return <span className="md-nolink">{children}</span>;
    return (
      <a href={safe} target="_blank" rel="noopener noreferrer">
        {children}
      </a>
    );
  },
  pre: ({ children }) => <CodeBlock>{children}</CodeBlock>,
  h1: Heading,
  h2: Heading,
  h3: Heading,
  h4: Heading,
  h5: Heading,
  h6: Heading,
};

/** Link targets: only http/https/mailto survive; images never get here (they are text). */
const urlTransform: NonNullable<Options['urlTransform']> = (url: string, key: string, node: HastElement) =>
  node.tagName === 'a' && key === 'href' ? safeUrl(url) : null;

const NO_CHIPS: MentionChips = { names: new Set(), mine: new Set() };

/** Render message text as the safe Markdown subset. */
export const Markdown = memo(function Markdown({ text, chips = NO_CHIPS }: { text: string; chips?: MentionChips }) {
  return (
    <ReactMarkdown
      remarkPlugins={[remarkStrikeAndAutolinks, remarkAsText, remarkBreaks, [remarkMentionChips, chips]]}
      skipHtml
      allowedElements={ALLOWED}
      unwrapDisallowed
      urlTransform={urlTransform}
      components={COMPONENTS}
    >
      {text}
    </ReactMarkdown>
  );
});
