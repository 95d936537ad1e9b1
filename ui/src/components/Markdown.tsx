/**
 * DAG and task docs as Markdown, through react-markdown (CommonMark) without rehype-raw: HTML in a doc is
 * never parsed as HTML — react-markdown turns it into text, so `<script>` shows as `<script>`. Links keep
 * only http, https, mailto and relative targets, judged as the browser parses them (links.ts); any other
 * link stays text. Images show as their alt text (a doc does not load remote content).
 */
import ReactMarkdown, { type Components } from "react-markdown";
import { safeHref } from "../links";

const components: Components = {
  a: ({ href, children }) =>
    href ? (
      <a href={href} rel="noopener noreferrer nofollow" target={/^https?:/i.test(href) ? "_blank" : undefined}>
        {children}
      </a>
    ) : (
      <span className="unsafe-link">{children}</span>
    ),
  img: ({ alt }) => <span className="image-alt">{alt ? `[${alt}]` : "[image]"}</span>,
};

export function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown components={components} urlTransform={(url) => safeHref(url)} skipHtml={false}>
        {text}
      </ReactMarkdown>
    </div>
  );
}
