"""Planner web pages (抽检规划页面), served by the API app under `/web/`.

`choujian serve`, then open http://127.0.0.1:8000/web/ and log in with a planner key from
`choujian keys create --role planner`. Server-rendered Jinja2 templates, CSS, a few lines of vanilla JS
and server-side SVG charts all ship inside the package: the pages load nothing from outside.
"""
