"""One use case per module, each a class with one ``async def execute(request)``."""
