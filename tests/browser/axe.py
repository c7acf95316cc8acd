"""axe-core (vendored from npm) run in the page by Playwright: WCAG 2 A and AA."""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def axe_violations(page) -> list[str]:
    """WCAG 2 A and AA violations on the page as axe-core finds them (rule: elements)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
            return result.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
        }"""
    )
    return list(found)
